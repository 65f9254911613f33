"""All models, imported here so Alembic and ``db.create_all`` see every table."""

from app.models import analytics as _analytics  # noqa: F401
from app.models import email as _email  # noqa: F401
from app.models import reporting as _reporting  # noqa: F401
from app.models.account import ROLES, ApiToken, User
from app.models.append_only import AppendOnlyError
from app.models.audit import AuditEntry
from app.models.consent import ConsentRecord, StampOutbox
from app.models.site import PolicyVersion, Site

__all__ = [
    "ROLES",
    "ApiToken",
    "AppendOnlyError",
    "AuditEntry",
    "ConsentRecord",
    "PolicyVersion",
    "Site",
    "StampOutbox",
    "User",
]
