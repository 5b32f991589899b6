"""Districts from any file of units: name_az optional; accounting re-marked for 'outside districts'.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from alembic import op  # noqa: F401

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
