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

import re
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
    ogc = (SQL / "0003_ogc.sql").read_text()
    tables = ogc[ogc.index("CREATE TABLE tile_cache"):ogc.index("-- The pieces follow")]
    pieces_changed = re.search(r"CREATE OR REPLACE FUNCTION minemap_pieces_changed.*?\$\$;",
                               ogc, re.S)[0]
    op.execute("DROP TABLE cell_remaining")
    op.execute(tables)
    op.execute(pieces_changed)
    for event, rows in (("insert", "NEW TABLE AS new_rows"), ("delete", "OLD TABLE AS old_rows"),
                        ("update", "OLD TABLE AS old_rows NEW TABLE AS new_rows")):
        op.execute(f"CREATE TRIGGER pieces_ogc_{event} AFTER {event.upper()} ON pieces "
                   f"REFERENCING {rows} FOR EACH STATEMENT "
                   "EXECUTE FUNCTION minemap_pieces_changed()")
    op.execute("CREATE TRIGGER pieces_ogc_truncate AFTER TRUNCATE ON pieces "
               "FOR EACH STATEMENT EXECUTE FUNCTION minemap_pieces_changed()")
    op.execute((SQL / "0004_records_changed.sql").read_text())
    op.execute("DROP FUNCTION minemap_hazard_status(double precision)")
    op.execute("DROP FUNCTION minemap_hazard_closed(double precision)")
