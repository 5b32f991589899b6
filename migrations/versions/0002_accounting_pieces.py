"""Add the accounting pieces: the overlay of hazards and releases per district and grid cell.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from pathlib import Path

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SQL = Path(__file__).parents[1] / "sql"

# The tables whose writes mark grid cells dirty (the trigger function knows their columns).
WATCHED = ("hazards", "releases", "districts")


def method() -> pg.ENUM:
    return pg.ENUM(name="release_method", create_type=False)


def upgrade() -> None:
    op.add_column("hazards", sa.Column("remaining_m2", sa.Float))
    op.create_table(
        "dirty_cells",
        sa.Column("cx", sa.Integer, primary_key=True),
        sa.Column("cy", sa.Integer, primary_key=True),
    )
    # Disjoint pieces of land, each covered by the same hazards and releases throughout. The
    # attributes come twice: from approved records, and from approved or submitted ones.
    op.create_table(
        "pieces",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("cx", sa.Integer, nullable=False),
        sa.Column("cy", sa.Integer, nullable=False),
        sa.Column("district_id", sa.Integer),  # null: outside every district
        sa.Column("geom", geoalchemy2.Geometry("POLYGON", srid=4326, spatial_index=False),
                  nullable=False),
        sa.Column("area_m2", sa.Float, nullable=False),
        sa.Column("hazard_ids", pg.ARRAY(sa.BigInteger)),
        sa.Column("hazard_on", sa.Date),
        sa.Column("release_id", sa.BigInteger),
        sa.Column("release_on", sa.Date),
        sa.Column("release_method", method()),
        sa.Column("hazard_on_all", sa.Date),
        sa.Column("release_id_all", sa.BigInteger),
        sa.Column("release_on_all", sa.Date),
        sa.Column("release_method_all", method()),
    )
    op.create_index("ix_pieces_cell", "pieces", ["cx", "cy"])
    op.create_index("ix_pieces_geom", "pieces", ["geom"], postgresql_using="gist")
    op.create_table(
        "hazard_accounting",
        sa.Column("hazard_id", sa.BigInteger, sa.ForeignKey("hazards.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("district_id", sa.Integer),
        # The first day on which less than 1 m² of the hazard remained; null while it has not.
        sa.Column("closed_on", sa.Date),
        sa.Column("closed_on_all", sa.Date),
    )
    op.create_table(
        "release_accounting",
        sa.Column("release_id", sa.BigInteger, sa.ForeignKey("releases.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("district_id", sa.Integer),
    )
    op.execute((SQL / "0002_accounting.sql").read_text())
    for table in WATCHED:
        for event, rows in (("INSERT", "NEW TABLE AS new_rows"), ("DELETE", "OLD TABLE AS old_rows"),
                            ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows")):
            op.execute(
                f"CREATE TRIGGER {table}_mark_dirty_{event.lower()} AFTER {event} ON {table} "
                f"REFERENCING {rows} FOR EACH STATEMENT EXECUTE FUNCTION minemap_mark_dirty()"
            )
    # Existing records are accounted for at the next refresh.
    op.execute(
        "INSERT INTO dirty_cells SELECT DISTINCT c.cx, c.cy FROM "
        "(SELECT geom FROM hazards UNION ALL SELECT geom FROM releases) AS r,"
        " minemap_cells(r.geom) AS c"
    )


def downgrade() -> None:
    for table in WATCHED:
        for event in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_mark_dirty_{event} ON {table}")
    for table in ("release_accounting", "hazard_accounting", "pieces", "dirty_cells"):
        op.drop_table(table)
    op.drop_column("hazards", "remaining_m2")
    for function in ("minemap_mark_dirty()", "minemap_cells(geometry)",
                     "minemap_cell_box(integer, integer)"):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
