"""Districts from any file of units: name_az optional; accounting re-marked for 'outside districts'.

A file of administrative units other than the bundled one (geoBoundaries, a national gazetteer)
need not carry Azerbaijani names. And hazards and releases lying in no unit are now counted
in an `outside districts` row rather than in the nearest unit, so every cell holding records
is marked for the next accounting refresh to recompute their home.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MARK_ALL = (
    "INSERT INTO dirty_cells SELECT DISTINCT c.cx, c.cy FROM "
    "(SELECT geom FROM hazards UNION ALL SELECT geom FROM releases) AS r,"
    " minemap_cells(r.geom) AS c ON CONFLICT DO NOTHING"
)


def upgrade() -> None:
    op.alter_column("districts", "name_az", nullable=True)
    op.execute(MARK_ALL)


def downgrade() -> None:
    op.execute("UPDATE districts SET name_az = name WHERE name_az IS NULL")
    op.alter_column("districts", "name_az", nullable=False)
    op.execute(MARK_ALL)
