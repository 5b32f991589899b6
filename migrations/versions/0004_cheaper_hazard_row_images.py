"""Compare hazards' row images as text in the OGC trigger, not as JSON: refreshes run faster.

accounting.refresh() updates remaining_m2 on every hazard in the cells it recomputes, and the
trigger of revision 0003 compared each row before and after as JSON, writing every geometry
as GeoJSON: on 30,000 hazards that was 7 of the 12 seconds of the refresh's status step.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from pathlib import Path

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SQL = Path(__file__).parents[1] / "sql"


def upgrade() -> None:
    op.execute((SQL / "0004_records_changed.sql").read_text())


def downgrade() -> None:
    op.execute((SQL / "0003_records_changed.sql").read_text())
