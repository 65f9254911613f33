"""users.display_name: no longer the local part of the email address

Until now a user's display name was the local part of their address ("jane.doe" for
jane.doe@example.com): part of a plain address, which invariant 2 keeps out of the
database. Every existing name was made that way, so each becomes the default a new user
gets, the role and the id ("Admin #3"); an admin may choose another with
``heedful user add --name``.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

users = sa.table(
    "users", sa.column("id", sa.Integer), sa.column("role", sa.String), sa.column("display_name")
)


def upgrade():
    conn = op.get_bind()
    for user_id, role in conn.execute(sa.select(users.c.id, users.c.role)).all():
        conn.execute(
            users.update()
            .where(users.c.id == user_id)
            .values(display_name=f"{(role or 'staff').capitalize()} #{user_id}")
        )


def downgrade():
    # The old names were parts of email addresses; they are not brought back.
    pass
