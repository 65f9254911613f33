"""Fault tests run once, in the default (SQLite) run of the suite: they bring their own
databases (a PostgreSQL cluster, a SQLite file on a small tmpfs), so the PostgreSQL run of
the suite would only repeat them."""

from __future__ import annotations

import pytest

from app.config import database_timeouts
from tests.conftest import BACKEND

# The longest a request may take while the store is gone: the storage bound of
# ``DatabaseTimeouts.request``, plus room for a loaded CI machine.
BOUND = database_timeouts().request + 3.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.parent.name == "faults":
            item.add_marker(pytest.mark.slow)
            if BACKEND != "sqlite":
                item.add_marker(
                    pytest.mark.skip(reason="fault tests run once, in the SQLite run of the suite")
                )
