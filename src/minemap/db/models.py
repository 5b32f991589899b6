"""The schema as ORM classes; the migrations in migrations/versions/ create it.

Every table, column, constraint and index a migration creates is declared here as it was
created, so that tests/test_schema.py (and `minemap db check`) finds no difference.
"""

import datetime as dt
import uuid

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import conv

from minemap.db.base import Base
from minemap.kinds import HAZARDS, KINDS, RELEASES, KindSpec
from minemap.kinds.spec import Field
from minemap.vocab import (
    DEVICE_FIELDS,
    Classification,
    HazardType,
    HistoryAction,
    LandUse,
    ReleaseMethod,
    Review,
    Role,
)


def pg_enum(enum, name: str) -> Enum:
    """Map a StrEnum onto the PostgreSQL enum type the migration created."""
    return Enum(enum, name=name, values_callable=lambda e: [m.value for m in e],
                create_type=False)


def polygons() -> Geometry:
    # No index of GeoAlchemy2's own: each table declares its GiST index below.
    return Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)


def spatial_index(table: str, column: str = "geom") -> Index:
    """Return the GiST index of a table's geometry, named as the migrations name it."""
    return Index(f"ix_{table}_{column}", column, postgresql_using="gist")


def valid_geometry() -> CheckConstraint:
    """Return the check that refuses an invalid or empty geometry."""
    return CheckConstraint("ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="valid_geometry")


def quoted(names) -> str:
    """Return names as a list of SQL string literals (they are identifiers of ours)."""
    return ", ".join(f"'{name}'" for name in names)


# Geodesic area on the WGS84 ellipsoid, kept by PostgreSQL itself.
GEODESIC_AREA = "ST_Area(geography(geom))"

now = func.now()
# Ids are bigints (or ints) in PostgreSQL; no id is larger than this.
MAX_ID = 2**63 - 1


class Organisation(Base):
    __tablename__ = "organisations"
    __table_args__ = (CheckConstraint("length(trim(name)) > 0", name="name_not_blank"),)
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=now)


class District(Base):
    __tablename__ = "districts"
    __table_args__ = (CheckConstraint("kind IN ('district', 'city')", name="kind"),
                      valid_geometry(), spatial_index("districts"))
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)  # ISO suffix, used in hazard codes
    name: Mapped[str] = mapped_column(Text)
    name_az: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    iso_3166_2: Mapped[str | None] = mapped_column(Text, unique=True)
    region: Mapped[str | None] = mapped_column(Text)
    geom = mapped_column(polygons(), nullable=False)
    area_m2: Mapped[float] = mapped_column(Float, Computed(GEODESIC_AREA, persisted=True))


# PostgreSQL's enum type of each vocabulary the records use (migration 0001 creates them).
ENUM_TYPES = {Classification: "classification", HazardType: "hazard_type",
              ReleaseMethod: "release_method", LandUse: "land_use"}


class RecordColumns:
    """The columns every kind of record has, besides those its fields are stored in."""

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    geom = mapped_column(polygons(), nullable=False)
    area_m2: Mapped[float] = mapped_column(Float, Computed(GEODESIC_AREA, persisted=True))
    review: Mapped[Review] = mapped_column(pg_enum(Review, "review_state"), default=Review.approved,
                                           server_default=Review.approved.value)
    review_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=now)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


def _column(field: Field):
    """Return the column a field is stored in, as its kind's migration created it."""
    if field.reference:
        kind = ForeignKey(f"{field.reference}.id")
        return mapped_column(BigInteger, kind, nullable=not field.required)
    if field.enum is not None:
        kind = pg_enum(field.enum, ENUM_TYPES[field.enum])
        kind = ARRAY(kind) if field.is_list else kind
    else:
        kind = {str: Text(), int: Integer(), dt.date: Date()}[field.type]
    if field.default is not None:
        return mapped_column(kind, nullable=False, default=field.default,
                             server_default=str(field.default))
    return mapped_column(kind, nullable=not field.required)


def table_of(kind: KindSpec) -> Table:
    """Return the table a kind is stored in."""
    return Base.metadata.tables[kind.name]


def _table_args(spec: KindSpec) -> tuple:
    """Return the constraints and indexes every kind's table has, as its migration made them.

    A valid geometry, a list with a minimum length not empty, the dates of `spec.order` in
    that order; a GiST index on the geometry and a btree on the date OGC's datetime selects
    on and on each reference.
    """
    args = [valid_geometry(), spatial_index(spec.name)]
    for field in spec.fields:
        if field.is_list and field.bounds.get("min_length"):
            args.append(CheckConstraint(f"cardinality({field.column}) > 0",
                                        name=f"{field.column}_not_empty"))
    for first, then in spec.order:
        name = f"{first.removesuffix('_on')}_before_{then.removesuffix('_on')}"
        args.append(CheckConstraint(f"{first} <= {then}", name=name))
    for column in (spec.by_name[spec.temporal].column, *(f.column for f in spec.references)):
        args.append(Index(f"ix_{spec.name}_{column}", column))
    return tuple(args)


def record_model(spec: KindSpec, name: str, *, checks: tuple[CheckConstraint, ...] = (),
                 **more) -> type:
    """Return the ORM class of a kind: the shared columns, its fields' and `more`; its
    table's constraints and indexes, and `checks`."""
    columns = {field.column: _column(field) for field in spec.fields
               if field.name not in ("code", "organisation")}
    return type(name, (RecordColumns, Base), {"__tablename__": spec.name,
                                              "__table_args__": (*_table_args(spec), *checks),
                                              **columns, **more})


Hazard = record_model(HAZARDS, "Hazard", remaining_m2=mapped_column(Float, nullable=True))
Release = record_model(RELEASES, "Release", checks=(CheckConstraint(
    f"least({', '.join(DEVICE_FIELDS)}) >= 0", name="devices_not_negative"),))


# The limits of migration 0006, which refuses in a baseline in use what store.baselines does.
BASELINE_CHECKS = {
    "area_plausible": "withdrawn_at IS NOT NULL"
                      " OR (area_km2 >= 0.000001 AND area_km2 <= 510065622)",
    "as_of_plausible": "withdrawn_at IS NOT NULL OR (as_of >= DATE '1990-01-01' AND as_of <= "
                       "CAST(updated_at AT TIME ZONE 'UTC' AS date) + 1)",
    "label_printable": r"label = btrim(label) AND length(label) BETWEEN 1 AND 200"
                       r" AND label !~ '[\u0001-\u001f\u007f-\u009f]'",
}


class Baseline(Base):
    """A contaminated area at a date."""

    __tablename__ = "baselines"
    __table_args__ = (CheckConstraint("area_km2 > 0", name="area_positive"),
                      *(CheckConstraint(sql, name=name) for name, sql in BASELINE_CHECKS.items()))
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    label: Mapped[str] = mapped_column(Text)
    as_of: Mapped[dt.date] = mapped_column(Date)
    area_km2: Mapped[float] = mapped_column(Numeric)
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"))
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=now)
    # Set when withdrawn: kept, and in history, but used by no report.
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Token(Base):
    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    role: Mapped[Role] = mapped_column(pg_enum(Role, "role"))
    token_hash: Mapped[str] = mapped_column(Text, unique=True)  # sha256 hex; never the token
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=now)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class HistoryEvent(Base):
    """One create, update, review or delete of a hazard or release, or one create, update or
    withdrawal of a baseline; rows are only appended."""

    __tablename__ = "history"
    # The entities are the kinds' and baselines: a new kind needs a migration widening this.
    __table_args__ = (
        CheckConstraint(f"entity IN ({quoted([*(k.entity for k in KINDS.values()), 'baseline'])})",
                        name="entity"),
        Index("ix_history_entity", "entity", "entity_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    entity: Mapped[str] = mapped_column(Text)  # 'hazard' | 'release' | 'baseline'
    entity_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[HistoryAction] = mapped_column(pg_enum(HistoryAction, "history_action"))
    version: Mapped[int] = mapped_column(Integer)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("tokens.id"))
    actor: Mapped[str] = mapped_column(Text)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=now)
    reason: Mapped[str | None] = mapped_column(Text)
    before: Mapped[dict | None] = mapped_column(JSONB)
    after: Mapped[dict | None] = mapped_column(JSONB)


class Import(Base):
    """One stored import of a field file: who, when, the file and its report; only appended."""

    __tablename__ = "imports"
    __table_args__ = (CheckConstraint(f"kind IN ({quoted(KINDS)})", name="imports_kind"),
                      CheckConstraint("file_sha256 ~ '^[0-9a-f]{64}$'", name="imports_sha256"))
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=now)
    kind: Mapped[str] = mapped_column(Text)  # 'hazards' | 'releases'
    token_id: Mapped[int | None] = mapped_column(ForeignKey("tokens.id"))
    actor: Mapped[str] = mapped_column(Text)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    file_name: Mapped[str] = mapped_column(Text)
    file_size: Mapped[int] = mapped_column(BigInteger)
    file_sha256: Mapped[str] = mapped_column(Text)
    features_read: Mapped[int] = mapped_column(Integer)
    report: Mapped[dict] = mapped_column(JSONB)


class ImportRecord(Base):
    """A record an import created, and its version then."""

    __tablename__ = "import_records"
    import_id: Mapped[int] = mapped_column(ForeignKey("imports.id"), primary_key=True)
    record_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


# The accounting (migration 0002): accounting.pieces keeps these tables; only SQL reads them.
class DirtyCell(Base):
    """A grid cell a write touched, whose pieces the next refresh recomputes."""

    __tablename__ = "dirty_cells"
    cx: Mapped[int] = mapped_column(Integer, primary_key=True)
    cy: Mapped[int] = mapped_column(Integer, primary_key=True)


def _method() -> Enum:
    return pg_enum(ReleaseMethod, ENUM_TYPES[ReleaseMethod])


class Piece(Base):
    """A piece of land covered by the same hazards and releases throughout; each attribute
    twice, from approved records and (`_all`) from approved or submitted ones."""

    __tablename__ = "pieces"
    __table_args__ = (Index("ix_pieces_cell", "cx", "cy"), spatial_index("pieces"))
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    cx: Mapped[int] = mapped_column(Integer)
    cy: Mapped[int] = mapped_column(Integer)
    district_id: Mapped[int | None] = mapped_column(Integer)  # null: outside every district
    geom = mapped_column(Geometry("POLYGON", srid=4326, spatial_index=False), nullable=False)
    area_m2: Mapped[float] = mapped_column(Float)
    hazard_ids: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))
    hazard_on: Mapped[dt.date | None] = mapped_column(Date)
    release_id: Mapped[int | None] = mapped_column(BigInteger)
    release_on: Mapped[dt.date | None] = mapped_column(Date)
    release_method: Mapped[ReleaseMethod | None] = mapped_column(_method())
    hazard_on_all: Mapped[dt.date | None] = mapped_column(Date)
    release_id_all: Mapped[int | None] = mapped_column(BigInteger)
    release_on_all: Mapped[dt.date | None] = mapped_column(Date)
    release_method_all: Mapped[ReleaseMethod | None] = mapped_column(_method())


class HazardAccounting(Base):
    __tablename__ = "hazard_accounting"
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id", ondelete="CASCADE"),
                                           primary_key=True)
    district_id: Mapped[int | None] = mapped_column(Integer)
    # The first day on which less than 1 m² of the hazard remained; null while it has not.
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    closed_on_all: Mapped[dt.date | None] = mapped_column(Date)


class ReleaseAccounting(Base):
    __tablename__ = "release_accounting"
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id", ondelete="CASCADE"),
                                            primary_key=True)
    district_id: Mapped[int | None] = mapped_column(Integer)


# Created by plain SQL (migrations/sql/0003_ogc.sql, 0008_reads_never_write.sql), so their
# constraints have PostgreSQL's names, not the naming convention's.
class DataVersion(Base):
    """The one row counting writes to the record tables: ETags and the servers' tile caches
    are keyed by it."""

    __tablename__ = "data_version"
    __table_args__ = (PrimaryKeyConstraint("singleton", name=conv("data_version_pkey")),
                      CheckConstraint("singleton", name=conv("data_version_singleton_check")))
    singleton: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # The SQL wrote DEFAULT 1, which PostgreSQL keeps as 1 where server_default="1" is '1'.
    version: Mapped[int] = mapped_column(BigInteger, server_default=text("1"))
    epoch: Mapped[uuid.UUID] = mapped_column(Uuid, server_default=func.gen_random_uuid())


class CellRemaining(Base):
    """The remaining land of a district in a grid cell, as the approved pieces give it."""

    __tablename__ = "cell_remaining"
    __table_args__ = (PrimaryKeyConstraint("cx", "cy", "district_id",
                                           name=conv("cell_remaining_pkey")),)
    cx: Mapped[int] = mapped_column(Integer)
    cy: Mapped[int] = mapped_column(Integer)
    district_id: Mapped[int] = mapped_column(ForeignKey(
        "districts.id", ondelete="CASCADE", name=conv("cell_remaining_district_id_fkey")))
    remaining_m2: Mapped[float] = mapped_column(Float)
