"""Record every import: who, when, the file, its report and its records.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("token_id", sa.Integer, sa.ForeignKey("tokens.id")),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("organisation_id", sa.Integer, sa.ForeignKey("organisations.id")),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("file_size", sa.BigInteger, nullable=False),
        sa.Column("file_sha256", sa.Text, nullable=False),
        sa.Column("features_read", sa.Integer, nullable=False),
        sa.Column("report", pg.JSONB, nullable=False),
        sa.CheckConstraint("kind IN ('hazards', 'releases')", name="imports_kind"),
        sa.CheckConstraint("file_sha256 ~ '^[0-9a-f]{64}$'", name="imports_sha256"),
    )
    # The records an import created, with the version each had then (a later edit shows).
    op.create_table(
        "import_records",
        sa.Column("import_id", sa.BigInteger, sa.ForeignKey("imports.id"), nullable=False),
        sa.Column("record_id", sa.BigInteger, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("import_id", "record_id"),
    )
    for table in ("imports", "import_records"):
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION minemap_refuse_change()")


def downgrade() -> None:
    op.drop_table("import_records")
    op.drop_table("imports")
