"""Create the initial schema: organisations, districts, hazards, releases, baselines, tokens, history.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from pathlib import Path

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SQL = Path(__file__).parents[1] / "sql"

# The vocabulary of CONTRACT §3, frozen here: a later change is a later revision.
ENUMS = {
    "classification": ("SHA", "CHA"),
    "hazard_type": ("AP", "AT", "UXO", "AXO", "CMR", "IED"),
    "release_method": ("cancelled", "reduced", "cleared"),
    "land_use": ("agriculture", "housing", "transport", "energy", "water", "environment", "other"),
    "role": ("admin", "reviewer", "operator", "viewer"),
    "review_state": ("submitted", "approved", "rejected"),
    "history_action": ("create", "update", "review", "delete"),
}

TABLES = ("history", "tokens", "baselines", "releases", "hazards", "districts", "organisations")


def enum(name: str) -> pg.ENUM:
    return pg.ENUM(*ENUMS[name], name=name, create_type=False)


def polygons(nullable: bool = False) -> sa.Column:
    return sa.Column(
        "geom",
        geoalchemy2.Geometry("MULTIPOLYGON", srid=4326, spatial_index=False),
        nullable=nullable,
    )


def geodesic_area() -> sa.Column:
    # ST_Area on geography is geodesic on the WGS84 ellipsoid (GeographicLib via PROJ).
    return sa.Column("area_m2", sa.Float, sa.Computed("ST_Area(geography(geom))", persisted=True), nullable=False)


def valid_geometry(table: str) -> sa.CheckConstraint:
    return sa.CheckConstraint("ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="valid_geometry")


def record_columns() -> list:
    """Columns shared by hazards and releases: review state, version and lifecycle."""
    return [
        sa.Column("review", enum("review_state"), nullable=False, server_default="approved"),
        sa.Column("review_reason", sa.Text),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
    ]


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    bind = op.get_bind()
    for name, values in ENUMS.items():
        pg.ENUM(*values, name=name).create(bind)

    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("length(trim(name)) > 0", name="name_not_blank"),
    )
    op.create_table(
        "districts",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("code", sa.Text, nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("name_az", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("iso_3166_2", sa.Text, unique=True),
        sa.Column("region", sa.Text),
        polygons(),
        geodesic_area(),
        sa.CheckConstraint("kind IN ('district', 'city')", name="kind"),
        valid_geometry("districts"),
    )
    op.create_table(
        "hazards",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("code", sa.Text, nullable=False, unique=True),
        sa.Column("classification", enum("classification"), nullable=False),
        sa.Column("hazard_types", pg.ARRAY(enum("hazard_type")), nullable=False),
        sa.Column("organisation_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("recorded_on", sa.Date, nullable=False),
        sa.Column("description", sa.Text),
        polygons(),
        geodesic_area(),
        *record_columns(),
        sa.CheckConstraint("cardinality(hazard_types) > 0", name="hazard_types_not_empty"),
        valid_geometry("hazards"),
    )
    op.create_table(
        "releases",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("code", sa.Text, nullable=False, unique=True),
        sa.Column("method", enum("release_method"), nullable=False),
        sa.Column("hazard_id", sa.BigInteger, sa.ForeignKey("hazards.id")),
        sa.Column("organisation_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("started_on", sa.Date),
        sa.Column("completed_on", sa.Date, nullable=False),
        sa.Column("land_use", enum("land_use")),
        *[
            sa.Column(device, sa.Integer, nullable=False, server_default="0")
            for device in ("ap_mines", "at_mines", "uxo", "cmr", "ied")
        ],
        sa.Column("description", sa.Text),
        polygons(),
        geodesic_area(),
        *record_columns(),
        sa.CheckConstraint("started_on <= completed_on", name="started_before_completed"),
        sa.CheckConstraint(
            "least(ap_mines, at_mines, uxo, cmr, ied) >= 0", name="devices_not_negative"
        ),
        valid_geometry("releases"),
    )
    op.create_table(
        "baselines",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("area_km2", sa.Numeric, nullable=False),
        sa.Column("district_id", sa.Integer, sa.ForeignKey("districts.id")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("area_km2 > 0", name="area_positive"),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("organisation_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("role", enum("role"), nullable=False),
        sa.Column("token_hash", sa.Text, nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "history",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("entity", sa.Text, nullable=False),
        sa.Column("entity_id", sa.BigInteger, nullable=False),
        sa.Column("action", enum("history_action"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("token_id", sa.Integer, sa.ForeignKey("tokens.id")),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("organisation_id", sa.Integer, sa.ForeignKey("organisations.id")),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("reason", sa.Text),
        sa.Column("before", pg.JSONB),
        sa.Column("after", pg.JSONB),
        sa.CheckConstraint("entity IN ('hazard', 'release')", name="entity"),
    )
    # One index per purpose: spatial lookups, then the filters reports and lists use.
    for table in ("districts", "hazards", "releases"):
        op.create_index(f"ix_{table}_geom", table, ["geom"], postgresql_using="gist")
    op.create_index("ix_hazards_recorded_on", "hazards", ["recorded_on"])
    op.create_index("ix_releases_completed_on", "releases", ["completed_on"])
    op.create_index("ix_releases_hazard_id", "releases", ["hazard_id"])
    op.create_index("ix_history_entity", "history", ["entity", "entity_id", "id"])
    op.execute((SQL / "0001_functions.sql").read_text())
    # History is append-only: the database refuses to change or remove a row.
    op.execute(
        "CREATE TRIGGER history_append_only BEFORE UPDATE OR DELETE ON history "
        "FOR EACH ROW EXECUTE FUNCTION minemap_refuse_change()"
    )


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
    op.execute("DROP FUNCTION IF EXISTS minemap_refuse_change()")
    op.execute("DROP FUNCTION IF EXISTS minemap_geodesic_area(geometry)")
    op.execute("DROP FUNCTION IF EXISTS minemap_snapshot(jsonb)")
    for name in ENUMS:
        op.execute(f"DROP TYPE IF EXISTS {name}")
