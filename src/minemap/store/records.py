"""Read records of any kind as GeoJSON Features: one, a page of them, as they were, their history.

What a kind shows (its fields, derived properties and filters) comes from its spec
(kinds.spec); store.writes writes them.
"""

from datetime import datetime

from sqlalchemy import (JSON, ARRAY, ColumnElement, Connection, FromClause, Select, Table, Text,
                        cast, exists, func, literal_column, or_, select)

from minemap.db.models import District, Organisation, table_of
from minemap.errors import InvalidInput, NotFound, Problem, refuse
from minemap.kinds import KINDS, KindSpec
from minemap.store import history
from minemap.store.access import visible
from minemap.store.districts import LABEL
from minemap.store.tokens import Principal
from minemap.vocab import Review, Role

# The reader minemap itself is when it reads back what it wrote: it sees every record.
EVERYTHING = Principal(None, "minemap", Role.admin, None, None)


def district_named(d: Table, name: str) -> ColumnElement[bool]:
    """Match a district by name (any case), ISO 3166-2 code (AZ-AGM) or short code (AGM)."""
    return or_(func.lower(d.c.name) == name.lower(), d.c.iso_3166_2 == name.upper(),
               d.c.code == name.upper())


def _overlaps(d: Table, t: FromClause) -> ColumnElement[bool]:
    # Interiors meet: a hazard that only touches a district's border is not in it.
    return d.c.geom.op("&&", is_comparison=True)(t.c.geom) & \
        func.ST_Relate(d.c.geom, t.c.geom, "T********")


def _sql(expression: str, t: FromClause) -> ColumnElement:
    """A derived property's SQL (kinds.spec.Derived) on the row source `t`."""
    return literal_column(expression.format(t=t.name))


def _field(kind: KindSpec, name: str, t: FromClause, o: Table) -> ColumnElement:
    """The SQL of a field as a client wrote it."""
    field = kind.by_name[name]
    if name == "organisation":
        return o.c.name
    if field.reference:
        other = table_of(KINDS[field.reference])
        return select(other.c.code).where(other.c.id == t.c[field.column]).scalar_subquery()
    if field.is_list:
        # As text[]: the driver knows no enum arrays and would hand back '{AP,AT}'.
        return cast(t.c[field.column], ARRAY(Text))
    return t.c[field.column]


def _properties(kind: KindSpec, t: FromClause, o: Table) -> dict[str, ColumnElement]:
    d = District.__table__.alias("d")
    label = literal_column(LABEL.format(d="d"))
    districts = select(label).where(_overlaps(d, t)).order_by(label).scalar_subquery()
    return {
        **{name: _field(kind, name, t, o) for name in kind.inputs},
        "area_m2": t.c.area_m2,
        "districts": func.array(districts),
        **{p.name: _sql(p.rest, t) for p in kind.derived if p.rest is not None},
        "review": t.c.review,
        "review_reason": t.c.review_reason,
        "version": t.c.version,
        "created_at": t.c.created_at,
        "updated_at": t.c.updated_at,
    }


def filters(kind: KindSpec) -> dict:
    """Return the kind's own filters of a listing: name -> (t, value) -> condition."""
    found = {}
    for field in kind.fields:
        if field.filter and field.reference:
            other = table_of(KINDS[field.reference])
            found[field.name] = lambda t, value, f=field, r=other: t.c[f.column].in_(
                select(r.c.id).where(r.c.code == value))
        elif field.filter:
            found[field.name] = lambda t, value, f=field: t.c[f.column] == value
    for derived in kind.derived:
        if derived.filter:
            found[derived.name] = lambda t, value, p=derived: _sql(p.rest, t) == value
    return found


def _query(kind: KindSpec, source: FromClause | None = None) -> tuple[Select, list[str]]:
    """Return the select of Features from the kind's table, or from `source` shaped like it."""
    t, o = table_of(kind) if source is None else source, Organisation.__table__
    props = _properties(kind, t, o)
    query = (
        select(t.c.id, cast(func.ST_AsGeoJSON(t.c.geom), JSON).label("geometry"),
               *(expr.label(name) for name, expr in props.items()))
        .select_from(t.join(o, o.c.id == t.c.organisation_id))
        .where(t.c.deleted_at.is_(None))
    )
    return query, list(props)


def _feature(row, names: list[str]) -> dict:
    values = row._mapping
    return {"type": "Feature", "id": values["id"], "geometry": values["geometry"],
            "properties": {name: values[name] for name in names}}


def get(conn: Connection, kind: KindSpec, record_id: int, *, lock: bool = False,
        reader: Principal | None = EVERYTHING, at: datetime | None = None) -> dict:
    """Return one record as `reader` may see it, as a GeoJSON Feature (else NotFound).

    With `lock`, hold its row until the end of the transaction. With `at`, return it as its
    history says it was then (NotFound before it was created or after it was deleted).
    """
    t = table_of(kind)
    if lock:
        conn.execute(select(t.c.id).where(t.c.id == record_id).with_for_update())
    source = t if at is None else history.state_at(t, kind.entity, record_id, at)
    query, names = _query(kind, source)
    row = conn.execute(query.where(source.c.id == record_id, visible(source, reader))
                       ).one_or_none()
    if row is None:
        when = f" at {at.isoformat()}" if at is not None else ""
        raise NotFound(f"no {kind.entity} {record_id}{when}")
    return _feature(row, names)


def changes(conn: Connection, kind: KindSpec, record_id: int, *,
            reader: Principal | None = EVERYTHING) -> list[dict]:
    """Return the history of a record `reader` may see, deleted or not, oldest first."""
    t = table_of(kind)
    if not conn.execute(select(exists().where(t.c.id == record_id, visible(t, reader)))
                        ).scalar_one():
        raise NotFound(f"no {kind.entity} {record_id}")
    return history.entries(conn, kind.entity, record_id)


def _refuse_unknown_names(conn: Connection, kind: KindSpec, given: dict) -> None:
    """Refuse filters naming what does not exist, so that a typo is heard, not an empty map."""
    if (district := given.get("district")) is not None:
        d = District.__table__.alias("d")
        if not conn.execute(select(exists().where(district_named(d, district)))).scalar_one():
            refuse([Problem(None, "unknown_district", f"district '{district}' is neither a "
                                                      "district name nor an ISO 3166-2 code")])
    if (name := given.get("organisation")) is not None:
        o = Organisation.__table__
        if not conn.execute(select(exists().where(o.c.name == name))).scalar_one():
            refuse([Problem(None, "unknown_organisation", f"organisation '{name}' does not exist")])
    # Filters naming other records (a release's hazard) are checked as a write's would be.
    for field in kind.references:
        if (code := given.get(field.name)) is not None:
            other = KINDS[field.reference]
            r = table_of(other)
            if not conn.execute(select(exists().where(
                    r.c.code == code, r.c.deleted_at.is_(None)))).scalar_one():
                refuse([Problem(0, f"unknown_{other.entity}",
                                f"{other.entity} '{code}' does not exist")])


def search(conn: Connection, kind: KindSpec, *, limit: int = 100, offset: int = 0,
           bbox: tuple[float, float, float, float] | None = None, district: str | None = None,
           organisation: str | None = None, review: Review | None = None,
           reader: Principal | None = EVERYTHING, **given) -> tuple[list[dict], bool]:
    """Return a page of the records `reader` may see as Features, by id, and whether more follow.

    `given` are the kind's own filters (a hazard's classification and status, a release's
    method and hazard). A district, organisation or hazard that does not exist is an error.
    """
    own = filters(kind)
    if unknown := set(given) - set(own):
        raise InvalidInput(f"{kind.name} cannot be filtered by {', '.join(sorted(unknown))}")
    _refuse_unknown_names(conn, kind, {"district": district, "organisation": organisation,
                                       **given})
    t, o = table_of(kind), Organisation.__table__
    query, names = _query(kind)
    query = query.where(visible(t, reader))
    if bbox is not None:
        query = query.where(func.ST_Intersects(t.c.geom, func.ST_MakeEnvelope(*bbox, 4326)))
    if district is not None:
        d = District.__table__.alias("d")
        query = query.where(exists().where(district_named(d, district), _overlaps(d, t)))
    if organisation is not None:
        query = query.where(o.c.name == organisation)
    if review is not None:
        query = query.where(t.c.review == review)
    for name, value in given.items():
        if value is not None:
            query = query.where(own[name](t, value))
    rows = conn.execute(query.order_by(t.c.id).limit(limit + 1).offset(offset)).all()
    return [_feature(row, names) for row in rows[:limit]], len(rows) > limit
