"""Reads never write: writers keep the districts' remaining land; tiles are cached in memory.

GET requests used to refresh the accounting and fill two caches (tile_cache and the
versioned district_remaining), so the first read after a write paid for the write, took
locks and wrote rows. Writers now refresh in their own transaction and keep the remaining
land of each district in each cell; the server caches its low-zoom tiles under the data
version.
"Closed below 1 m²" becomes one SQL function.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from pathlib import Path

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SQL = Path(__file__).parents[1] / "sql"


def upgrade() -> None:
    op.execute((SQL / "0008_reads_never_write.sql").read_text())


def downgrade() -> None:
    op.execute((SQL / "0008_downgrade.sql").read_text())
    op.execute((SQL / "0004_records_changed.sql").read_text())
