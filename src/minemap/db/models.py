"""The schema as ORM classes; the migrations in migrations/versions/ create it."""

import datetime as dt

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Identity,
    Integer,
    Numeric,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from minemap.db.base import Base
from minemap.kinds import HAZARDS, RELEASES, KindSpec
from minemap.kinds.spec import Field
from minemap.vocab import (
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
    return Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)


# Geodesic area on the WGS84 ellipsoid, kept by PostgreSQL itself.
GEODESIC_AREA = "ST_Area(geography(geom))"

now = func.now()
# Ids are bigints (or ints) in PostgreSQL; no id is larger than this.
MAX_ID = 2**63 - 1


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=now)


class District(Base):
    __tablename__ = "districts"
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
    review: Mapped[Review] = mapped_column(pg_enum(Review, "review_state"), default=Review.approved)
    review_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
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


def record_model(spec: KindSpec, name: str, **more) -> type:
    """Return the ORM class of a kind: the shared columns, its fields' and `more`."""
    columns = {field.column: _column(field) for field in spec.fields
               if field.name not in ("code", "organisation")}
    return type(name, (RecordColumns, Base), {"__tablename__": spec.name, **columns, **more})


Hazard = record_model(HAZARDS, "Hazard", remaining_m2=mapped_column(Float, nullable=True))
Release = record_model(RELEASES, "Release", __table_args__=(
    CheckConstraint("started_on <= completed_on", name="started_before_completed"),))


class Baseline(Base):
    """A contaminated area at a date; migration 0006 holds the constraints' SQL."""

    __tablename__ = "baselines"
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    label: Mapped[str] = mapped_column(Text)
    as_of: Mapped[dt.date] = mapped_column(Date)
    area_km2: Mapped[float] = mapped_column(Numeric)
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
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
