"""Add what the OGC layers need: a data version for ETags, caches of low-zoom tiles and sums.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from pathlib import Path

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SQL = Path(__file__).parents[1] / "sql"

# (table, trigger function): every write to these keeps the version and the cache honest.
WATCHED = (("hazards", "minemap_records_changed"), ("releases", "minemap_records_changed"),
           ("districts", "minemap_records_changed"), ("pieces", "minemap_pieces_changed"))
EVENTS = (("insert", "NEW TABLE AS new_rows"), ("delete", "OLD TABLE AS old_rows"),
          ("update", "OLD TABLE AS old_rows NEW TABLE AS new_rows"))


def upgrade() -> None:
    op.execute((SQL / "0003_ogc.sql").read_text())
    op.execute((SQL / "0003_records_changed.sql").read_text())
    for table, function in WATCHED:
        for event, rows in EVENTS:
            op.execute(
                f"CREATE TRIGGER {table}_ogc_{event} AFTER {event.upper()} ON {table} "
                f"REFERENCING {rows} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )
        op.execute(f"CREATE TRIGGER {table}_ogc_truncate AFTER TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()")


def downgrade() -> None:
    for table, _ in WATCHED:
        for event in ("insert", "delete", "update", "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_ogc_{event} ON {table}")
    op.drop_table("district_remaining")
    op.drop_table("tile_cache")
    op.drop_table("data_version")
    op.execute("DROP FUNCTION IF EXISTS minemap_records_changed()")
    op.execute("DROP FUNCTION IF EXISTS minemap_pieces_changed()")
