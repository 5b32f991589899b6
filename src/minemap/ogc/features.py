"""Read features as GeoJSON that PostgreSQL writes: one statement per page, nothing per row here.

A page's features come back as one string (PostGIS writes each geometry, PostgreSQL each
properties object and the joins between them), ready to be sent as they are.
"""

from dataclasses import dataclass
from itertools import chain

from sqlalchemy import (Connection, Text, and_, cast, false, func, literal, literal_column, or_,
                        select, text)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.exc import DataError
from sqlalchemy.sql.elements import ColumnElement

from minemap import accounting
from minemap.ogc import cql
from minemap.ogc import crs as crs_
from minemap.ogc.collections import Collection
from minemap.ogc.query import Days, ItemsQuery

# Counting a selection costs as much as reading it; past this many, numberMatched is left out.
COUNT_CAP = 10_000


@dataclass(frozen=True)
class Page:
    features: str  # the features, comma-separated, without the brackets
    returned: int
    matched: int | None
    last_id: int | None  # of the last feature on the page


@dataclass(frozen=True)
class Extent:
    bbox: tuple[float, float, float, float] | None
    interval: tuple[str | None, str | None] | None


class Memo:
    """Values that change only with the data version (counts, extents), kept per process."""

    def __init__(self, size: int = 256):
        self.size, self.values = size, {}

    def get(self, key: tuple, compute):
        if key not in self.values:
            if len(self.values) >= self.size:
                self.values.clear()
            self.values[key] = compute()
        return self.values[key]


def begin(conn: Connection) -> str:
    """Return the data version (the write count and the epoch a restore renews), and turn
    JIT off for this transaction.

    These statements run in milliseconds, but the planner cannot tell and would spend longer
    compiling them than running them.
    """
    version, epoch = conn.execute(text(
        "SELECT version, epoch FROM data_version, set_config('jit', 'off', true)")).one()
    return f"{version}.{epoch.hex[:8]}"


def require_current(conn: Connection, collection: Collection) -> None:
    """Refuse to serve what the collection derives from the accounting if it is not current."""
    if collection.accounted:
        accounting.require_current(conn)


def during(collection: Collection, days: Days) -> ColumnElement:
    """Return the condition of `datetime` (its first and last days, inclusive) on the table.

    A feature that begins on a day meets the days that hold it; one that also `ends` meets
    those it is alive in, from its first day up to the one it ends (not included). Without
    `datetime` that is every feature, less those that have ended.
    """
    t = collection.table
    ends = t.c[collection.ends] if collection.ends else None
    if days is None:
        return ends.is_(None) if ends is not None else literal(True)
    if collection.temporal is None:
        # A feature without time never meets a datetime (OGC API Features, Part 1).
        return false()
    first, last = days
    parts = [t.c[collection.temporal] <= last] if last else []
    if ends is not None:
        parts += [or_(ends.is_(None), ends > first)] if first else []
    else:
        parts += [t.c[collection.temporal] >= first] if first else []
    return and_(*parts) if parts else literal(True)


def where(collection: Collection, query: ItemsQuery) -> ColumnElement:
    """Return the condition of bbox, datetime and filter on the collection's table."""
    t = collection.table
    parts = []
    if query.bbox is not None:
        parts.append(func.ST_Intersects(t.c.geom, crs_.box(query.bbox, query.bbox_crs)))
    parts.append(during(collection, query.days))
    if query.filter is not None:
        parts.append(cql.to_sql(query.filter, collection, t, query.filter_crs))
    return and_(*parts) if parts else literal(True)


def feature(collection: Collection, names: tuple[str, ...], crs: crs_.Crs) -> ColumnElement:
    """Return a GeoJSON Feature as text, built by PostgreSQL (right-hand rule, `crs`)."""
    t = collection.table
    geometry = crs_.from_storage(func.ST_ForcePolygonCCW(t.c.geom), crs)
    # Names are the collection's own field names (identifiers), never request text.
    pairs = chain.from_iterable((literal_column(f"'{n}'"), t.c[n]) for n in names)
    properties = cast(func.json_build_object(*pairs), Text)
    return (literal('{"type":"Feature","id":', Text) + cast(t.c.id, Text)
            + literal(',"geometry":', Text) + func.ST_AsGeoJSON(geometry, crs.digits, 0)
            + literal(',"properties":', Text) + properties + literal("}", Text))


def page(conn: Connection, collection: Collection, query: ItemsQuery,
         *, matched: int | None = None) -> Page:
    """Return one page of features; count the matches (up to COUNT_CAP) unless `matched` is given."""
    t = collection.table
    condition = where(collection, query)
    order = [t.c[name].desc() if descending else t.c[name] for name, descending in query.sortby]
    order.append(t.c.id)
    names = query.properties if query.properties is not None else tuple(collection.field)
    # Keyset paging: a page after id N starts at the index, where OFFSET would walk to it.
    on_page, skip = condition, query.offset
    if query.after is not None:
        on_page, skip = and_(condition, t.c.id > query.after), 0
    rows = (select(feature(collection, names, query.crs).label("f"), t.c.id,
                   func.row_number().over(order_by=order).label("n"))
            .select_from(t).where(on_page).order_by(*order)
            .limit(query.limit).offset(skip).subquery("page"))
    columns = [func.string_agg(rows.c.f, aggregate_order_by(literal(",", Text), rows.c.n)),
               func.count(), func.max(rows.c.id)]
    if matched is None:
        capped = select(literal(1)).select_from(t).where(condition).limit(COUNT_CAP + 1).subquery()
        columns.append(select(func.count()).select_from(capped).scalar_subquery())
    try:
        found = conn.execute(select(*columns).select_from(rows)).one()
    except DataError as error:
        # Only evaluating the filter on the data can tell (area_m2 * 1e308 * 1e308 overflows).
        raise cql.InvalidFilter("the filter cannot be evaluated on the data: "
                                f"{error.orig.diag.message_primary}") from None
    if matched is None:
        matched = found[3] if found[3] <= COUNT_CAP else None
    return Page(found[0] or "", found[1], matched, found[2])


def one(conn: Connection, collection: Collection, feature_id: int, crs: crs_.Crs) -> str | None:
    """Return the feature `feature_id` as GeoJSON text, or None."""
    t = collection.table
    statement = (select(feature(collection, tuple(collection.field), crs))
                 .select_from(t).where(t.c.id == feature_id))
    return conn.execute(statement).scalar_one_or_none()


def count(conn: Connection, collection: Collection) -> int:
    """Return how many features an /items request without a selection matches."""
    t = collection.table
    return conn.execute(select(func.count()).select_from(t)
                        .where(during(collection, None))).scalar_one()


def extent(conn: Connection, collection: Collection) -> Extent:
    """Return the bounding box (CRS84) and the time span of the collection's features, of
    every date (those that have ended too)."""
    t = collection.table
    box = func.ST_Extent(t.c.geom)
    columns = [func.ST_XMin(box), func.ST_YMin(box), func.ST_XMax(box), func.ST_YMax(box)]
    if collection.temporal:
        day = t.c[collection.temporal]
        columns += [cast(func.min(day), Text), cast(func.max(day), Text)]
    row = conn.execute(select(*columns).select_from(t)).one()
    bbox = None if row[0] is None else tuple(row[:4])
    interval = tuple(row[4:6]) if collection.temporal and row[4] is not None else None
    return Extent(bbox, interval)
