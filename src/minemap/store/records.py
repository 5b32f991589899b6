"""Store hazards and releases: one aggregate of two kinds, versioned, with history, read as GeoJSON.

What differs between the kinds (columns, code infix, derived properties, filters, references)
is data in a `Kind`; store/hazards.py and store/releases.py each define one.
"""

import json
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import shapely
from sqlalchemy import (JSON, ColumnElement, Connection, FromClause, Select, Table, cast, exists,
                        func, literal_column, or_, select, text, true)

from minemap.db.models import District, Organisation
from minemap.errors import (Conflict, Forbidden, InvalidInput, MinemapError, NotFound,
                            PreconditionFailed, Problem)
from minemap.geo.checks import check_feature
from minemap.geo.outline import Outline
from minemap.store import history, organisations
from minemap.store.districts import LABEL
from minemap.store.tokens import Principal
from minemap.vocab import HistoryAction, Review, Role

Clause = Callable[[Table, Any], ColumnElement[bool]]

# The reader minemap itself is when it reads back what it wrote: it sees every record.
EVERYTHING = Principal(None, "minemap", Role.admin, None, None)
# A reviewer's decision and the review state it leads to.
DECISIONS = {"approve": Review.approved, "reject": Review.rejected}


def _no_references(conn: Connection, records: list[dict]) -> list[dict]:
    return [{} for _ in records]


@dataclass(frozen=True)
class Kind:
    """What sets hazards and releases apart; everything else in this module is shared."""

    name: str  # "hazards": the table, the URL segment and the kind geo.checks knows
    entity: str  # "hazard": as history names it
    table: Table
    inputs: tuple[str, ...]  # the properties a client writes (CONTRACT §3), in output order
    columns: tuple[str, ...]  # where they are stored, besides organisation_id and geom
    infix: Callable[[dict], str]  # the middle of a generated code: SHA, CHA or REL
    outputs: Callable[[Table], dict[str, ColumnElement]]  # properties not read from a column
    filters: Mapping[str, Clause] = field(default_factory=dict)
    # Turn references in checked records into column values (a release's hazard code into
    # hazard_id), raising InvalidInput naming the ones that do not exist.
    references: Callable[[Connection, list[dict]], list[dict]] = _no_references


# ---- checking and authorising ----------------------------------------------------------

def check(kind: Kind, features: list[dict], *, today: date,
          outline: Outline) -> tuple[list[dict], list[Problem]]:
    """Return the checked records of `features` and their warnings, or raise InvalidInput
    naming every problem. `outline` is the loaded units' (store.districts.outline)."""
    records, problems, warnings = [], [], []
    for index, feature in enumerate(features):
        checked = check_feature(kind.name, index, feature, today=today, outline=outline)
        problems += checked.problems
        warnings += checked.warnings
        records.append(checked.record)
    refuse(problems)
    return records, warnings


def refuse(problems: list[Problem], error: type[MinemapError] = InvalidInput) -> None:
    """Raise `error` listing `problems`, if there are any."""
    if problems:
        shown = "; ".join(p.reason for p in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise error(shown + more, problems=problems)


def authorise(actor: Principal, organisation: str | None) -> None:
    """Refuse a write by `actor` on a record of `organisation` outside its role (403)."""
    if actor.role not in (Role.admin, Role.reviewer, Role.operator):
        raise Forbidden(f"a {actor.role} token may not write")
    if actor.role is Role.operator and organisation != actor.organisation:
        raise Forbidden(f"an operator writes only for its own organisation ({actor.organisation}),"
                        f" not for {organisation}")


def visible(t: FromClause, reader: Principal | None) -> ColumnElement[bool]:
    """Return the records `reader` (None: anonymous) may read.

    Approved records are public; submitted and rejected ones are seen by admins, reviewers
    and the operators of the organisation that owns them.
    """
    if reader is not None and reader.role in (Role.admin, Role.reviewer):
        return true()
    if reader is not None and reader.role is Role.operator:
        return or_(t.c.review == Review.approved, t.c.organisation_id == reader.organisation_id)
    return t.c.review == Review.approved


def review_of(actor: Principal) -> Review:
    """Return the review state of what `actor` writes: approved at once unless an operator."""
    return Review.submitted if actor.role is Role.operator else Review.approved


def _organisation_ids(conn: Connection, records: list[dict], actor: Principal) -> list[int]:
    """Return each record's organisation id (default: the actor's).

    Only admins may name an organisation that does not exist yet (it is created); for others
    that is invalid input (422 unknown_organisation), not a missing resource.
    """
    names = [r.get("organisation") or actor.organisation for r in records]
    refuse([Problem(i, "missing_property", "organisation is required")
            for i, name in enumerate(names) if name is None])
    for name in names:
        authorise(actor, name)
    o = Organisation.__table__
    known = dict(conn.execute(select(o.c.name, o.c.id).where(o.c.name.in_(set(names)))).all())
    problems = []
    for index, name in enumerate(names):
        if name in known:
            continue
        if actor.role is Role.admin:
            known[name] = organisations.ensure(conn, name)
        else:
            problems.append(Problem(index, "unknown_organisation",
                                    f"organisation '{name}' does not exist; an admin adds it"))
    refuse(problems)
    return [known[name] for name in names]


# ---- codes -------------------------------------------------------------------------------

# The district holding the largest part of each geometry, by geodesic area; XX when none does.
_HOME_DISTRICT = text("""
SELECT coalesce((
    SELECT d.code FROM districts AS d
    WHERE ST_Intersects(d.geom, g.geom)
    ORDER BY ST_Area(geography(ST_Intersection(d.geom, g.geom))) DESC, d.code
    LIMIT 1), 'XX')
FROM unnest(CAST(:geoms AS text[])) WITH ORDINALITY AS u(ewkb, n),
     ST_GeomFromEWKB(decode(u.ewkb, 'hex')) AS g(geom)
ORDER BY u.n
""")

# Held to the end of the transaction, so that two writers never both take the same next number.
# Sorted, so that two batches locking several prefixes cannot deadlock.
_LOCK_PREFIXES = text("""
SELECT pg_advisory_xact_lock(hashtextextended('minemap code ' || p, 0))
FROM (SELECT DISTINCT p FROM unnest(CAST(:prefixes AS text[])) AS p ORDER BY p) AS sorted
""")

# Deleted records keep their codes, so they count too.
_HIGHEST = """
SELECT p, coalesce(max(CAST(substr(t.code, length(p) + 2) AS numeric)), 0)
FROM unnest(CAST(:prefixes AS text[])) AS p
LEFT JOIN {table} AS t ON t.code LIKE p || '-%' AND substr(t.code, length(p) + 2) ~ '^[0-9]+$'
GROUP BY p
"""


def _codes(conn: Connection, kind: Kind, records: list[dict]) -> list[str]:
    """Return each record's code, generating AZ-<DISTRICT>-<INFIX>-<n> where none was given."""
    codes = [r.get("code") for r in records]
    missing = [i for i, code in enumerate(codes) if not code]
    if missing:
        geoms = [_ewkb(records[i]["geometry"]) for i in missing]
        homes = conn.execute(_HOME_DISTRICT, {"geoms": geoms}).scalars().all()
        prefixes = [f"AZ-{home}-{kind.infix(records[i])}" for i, home in zip(missing, homes)]
        wanted = sorted(set(prefixes))
        conn.execute(_LOCK_PREFIXES, {"prefixes": wanted})
        highest = {p: int(n) for p, n in
                   conn.execute(text(_HIGHEST.format(table=kind.table.name)), {"prefixes": wanted})}
        for code in filter(None, codes):  # numbers the batch itself gives
            for prefix in wanted:
                if found := re.fullmatch(re.escape(prefix) + r"-(\d+)", code):
                    highest[prefix] = max(highest[prefix], int(found[1]))
        for i, prefix in zip(missing, prefixes):
            highest[prefix] += 1
            codes[i] = f"{prefix}-{highest[prefix]}"
    return codes


def _refuse_taken(conn: Connection, kind: Kind, codes: list[str], *, own_id: int | None = None):
    """Raise Conflict naming each code used twice in the batch or already in use."""
    t = kind.table
    query = select(t.c.code).where(t.c.code.in_(set(codes)))
    if own_id is not None:
        query = query.where(t.c.id != own_id)
    taken = set(conn.execute(query).scalars())
    twice = {code for code, n in Counter(codes).items() if n > 1}
    problems = [Problem(i, "duplicate_code", f"{kind.entity} code '{code}' is already in use")
                for i, code in enumerate(codes) if code in taken]
    problems += [Problem(i, "duplicate_code", f"{kind.entity} code '{code}' is given twice")
                 for i, code in enumerate(codes) if code in twice]
    refuse(problems, Conflict)


# ---- writing -----------------------------------------------------------------------------

def _ewkb(geometry) -> str:
    return shapely.to_wkb(shapely.set_srid(geometry, 4326), hex=True, include_srid=True)


def _rows(kind: Kind, records: list[dict], org_ids: list[int], refs: list[dict],
          codes: list[str]) -> list[dict]:
    """Return the records as the rows jsonb_populate_record(set) turns into table rows."""
    rows = []
    for record, org_id, ref, code in zip(records, org_ids, refs, codes):
        row = {c: record.get(c) for c in kind.columns} | ref
        geometry = record.get("geometry")
        row |= {"code": code, "organisation_id": org_id,
                "geom": _ewkb(geometry) if geometry is not None else None}
        rows.append(row)
    return rows


def _json(value) -> str:
    return json.dumps(value, default=str)  # dates as ISO strings, enums as their values


def _insert_sql(kind: Kind) -> str:
    t = kind.table.name
    cols = ", ".join((*kind.columns, "organisation_id", "geom"))
    return f"""
WITH written AS (
    INSERT INTO {t} ({cols}, review)
    SELECT {cols}, CAST(:review AS review_state)
    FROM jsonb_populate_recordset(NULL::{t}, CAST(:rows AS jsonb))
    RETURNING *),
{history.logged(HistoryAction.create, prior=False)}
SELECT code, id FROM written"""


def _change_sql(kind: Kind, action: HistoryAction) -> str:
    """Return an UPDATE of one record at :id and :version (a change, review or soft delete)."""
    t = kind.table.name
    guard = ""
    if action is HistoryAction.delete:
        sets, source = "deleted_at = now()", ""
    elif action is HistoryAction.review:
        sets = "review = CAST(:review AS review_state), review_reason = CAST(:reason AS text)"
        source = ""
        guard = "AND t.review = 'submitted'"  # a submission is decided once
    else:
        sets = ", ".join(f"{c} = n.{c}" for c in (*kind.columns, "organisation_id"))
        # No geometry in a PATCH keeps the stored one exactly.
        sets += (", geom = coalesce(n.geom, t.geom), review = CAST(:review AS review_state),"
                 " review_reason = NULL")
        source = f"FROM jsonb_populate_record(NULL::{t}, CAST(:row AS jsonb)) AS n"
    return f"""
WITH prior AS (SELECT * FROM {t} WHERE id = :id),
written AS (
    UPDATE {t} AS t SET {sets}, version = t.version + 1, updated_at = now()
    {source}
    WHERE t.id = :id AND t.version = :version AND t.deleted_at IS NULL {guard}
    RETURNING t.*),
{history.logged(action, prior=True)}
SELECT id FROM written"""


def create(conn: Connection, kind: Kind, records: list[dict], *, actor: Principal) -> list[int]:
    """Store checked `records` (see `check`) in one statement; return their ids in order."""
    if not records:
        return []
    org_ids = _organisation_ids(conn, records, actor)
    refs = kind.references(conn, records)
    codes = _codes(conn, kind, records)
    _refuse_taken(conn, kind, codes)
    ids = dict(conn.execute(text(_insert_sql(kind)), {
        "rows": _json(_rows(kind, records, org_ids, refs, codes)), "review": review_of(actor).value,
        **history.params(kind.entity, actor),
    }).all())
    return [ids[code] for code in codes]


def update(conn: Connection, kind: Kind, current: dict, changes: dict, *, actor: Principal,
           today: date, outline: Outline) -> list[Problem]:
    """Apply a partial Feature `changes` to the stored Feature `current` (from `get`).

    The merged record is checked in full, so cross-field rules see old and new values alike.
    Returns the warnings of the check.
    """
    authorise(actor, current["properties"]["organisation"])
    given = changes.get("properties") or {}
    if changes.get("type", "Feature") != "Feature" or not isinstance(given, dict):
        refuse([Problem(0, "invalid_feature", "a PATCH body is a Feature with properties "
                                              "and/or geometry")])
    # The stored values in the form a client sends them (dates as strings), overlaid by the patch.
    properties = json.loads(_json({n: current["properties"][n] for n in kind.inputs})) | given
    geometry = changes["geometry"] if "geometry" in changes else current["geometry"]
    [record], warnings = check(kind, [{"type": "Feature", "properties": properties,
                                       "geometry": geometry}], today=today, outline=outline)
    if "geometry" not in changes:
        record["geometry"] = None  # keep the stored geometry, not its GeoJSON rendering
    [org_id] = _organisation_ids(conn, [record], actor)
    [ref] = kind.references(conn, [record])
    code = record.get("code") or current["properties"]["code"]
    if code != current["properties"]["code"]:
        _refuse_taken(conn, kind, [code], own_id=current["id"])
    _change(conn, kind, current, HistoryAction.update, actor, {
        "row": _json(_rows(kind, [record], [org_id], [ref], [code])[0]),
        "review": review_of(actor).value,
    })
    return warnings


def delete(conn: Connection, kind: Kind, current: dict, *, actor: Principal) -> None:
    """Mark the stored Feature `current` deleted; it stays in the table and in history.

    An operator deletes only what is not approved: approved land leaves the reports only by
    a reviewer's or an admin's hand (an operator's change to it is submitted for review).
    """
    authorise(actor, current["properties"]["organisation"])
    if actor.role is Role.operator and current["properties"]["review"] == Review.approved:
        raise Forbidden(f"an operator may not delete an approved {kind.entity}; "
                        "a reviewer or admin does")
    _change(conn, kind, current, HistoryAction.delete, actor, {})


def authorise_review(actor: Principal) -> None:
    """Refuse a review by anyone but an admin or reviewer (403)."""
    if actor.role not in (Role.admin, Role.reviewer):
        raise Forbidden(f"a {actor.role} token may not review; it takes admin or reviewer")


def check_decision(decision: str, reason: str | None) -> str | None:
    """Refuse a decision that is neither approve nor reject, or a rejection without a reason;
    return the reason, stripped."""
    if decision not in DECISIONS:
        refuse([Problem(None, "invalid_decision", f"decision '{decision}' is neither "
                                                  "'approve' nor 'reject'")])
    reason = (reason or "").strip() or None
    if decision == "reject" and reason is None:
        refuse([Problem(None, "missing_reason", "a rejection needs a reason")])
    return reason


def review(conn: Connection, kind: Kind, current: dict, *, decision: str, reason: str | None,
           actor: Principal) -> int:
    """Approve or reject the submitted Feature `current` (from `get`); a rejection needs a reason.

    The decision and its reason are kept on the record and in its history.
    """
    authorise_review(actor)
    reason = check_decision(decision, reason)
    state = current["properties"]["review"]
    if state != Review.submitted:
        raise Conflict(f"{kind.entity} {current['id']} is {state}, not submitted: only "
                       "submissions are reviewed")
    return _change(conn, kind, current, HistoryAction.review, actor,
                   {"review": DECISIONS[decision].value}, reason=reason)


def _change(conn: Connection, kind: Kind, current: dict, action: HistoryAction,
            actor: Principal, values: dict, *, reason: str | None = None) -> int:
    changed = conn.execute(text(_change_sql(kind, action)), {
        "id": current["id"], "version": current["properties"]["version"], **values,
        **history.params(kind.entity, actor, reason),
    }).scalar_one_or_none()
    if changed is None:
        raise PreconditionFailed(f"{kind.entity} {current['id']} changed meanwhile; read it again")
    return changed


# ---- reading -----------------------------------------------------------------------------

def district_named(d: Table, name: str) -> ColumnElement[bool]:
    """Match a district by name (any case), ISO 3166-2 code (AZ-AGM) or short code (AGM)."""
    return or_(func.lower(d.c.name) == name.lower(), d.c.iso_3166_2 == name.upper(),
               d.c.code == name.upper())


def _overlaps(d: Table, t: Table) -> ColumnElement[bool]:
    # Interiors meet: a hazard that only touches a district's border is not in it.
    return d.c.geom.op("&&", is_comparison=True)(t.c.geom) & \
        func.ST_Relate(d.c.geom, t.c.geom, "T********")


def _properties(kind: Kind, t: Table, o: Table) -> dict[str, ColumnElement]:
    d = District.__table__.alias("d")
    special = {"organisation": o.c.name, **kind.outputs(t)}
    inputs = {name: special.get(name, t.c.get(name)) for name in kind.inputs}
    label = literal_column(LABEL.format(d="d"))
    districts = select(label).where(_overlaps(d, t)).order_by(label).scalar_subquery()
    return inputs | {
        "area_m2": t.c.area_m2,
        "districts": func.array(districts),
        **{k: v for k, v in special.items() if k not in inputs},
        "review": t.c.review,
        "review_reason": t.c.review_reason,
        "version": t.c.version,
        "created_at": t.c.created_at,
        "updated_at": t.c.updated_at,
    }


def _query(kind: Kind, source: FromClause | None = None) -> tuple[Select, list[str]]:
    """Return the select of Features from the kind's table, or from `source` shaped like it."""
    t, o = kind.table if source is None else source, Organisation.__table__
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


def get(conn: Connection, kind: Kind, record_id: int, *, lock: bool = False,
        reader: Principal | None = EVERYTHING, at: datetime | None = None) -> dict:
    """Return one record as `reader` may see it, as a GeoJSON Feature (else NotFound).

    With `lock`, hold its row until the end of the transaction. With `at`, return it as its
    history says it was then (NotFound before it was created or after it was deleted).
    """
    t = kind.table
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


def changes(conn: Connection, kind: Kind, record_id: int, *,
            reader: Principal | None = EVERYTHING) -> list[dict]:
    """Return the history of a record `reader` may see, deleted or not, oldest first."""
    t = kind.table
    if not conn.execute(select(exists().where(t.c.id == record_id, visible(t, reader)))
                        ).scalar_one():
        raise NotFound(f"no {kind.entity} {record_id}")
    return history.entries(conn, kind.entity, record_id)


def _refuse_unknown_names(conn: Connection, kind: Kind, filters: dict) -> None:
    """Refuse filters naming what does not exist, so that a typo is heard, not an empty map."""
    if (district := filters.get("district")) is not None:
        d = District.__table__.alias("d")
        if not conn.execute(select(exists().where(district_named(d, district)))).scalar_one():
            refuse([Problem(None, "unknown_district", f"district '{district}' is neither a "
                                                      "district name nor an ISO 3166-2 code")])
    if (name := filters.get("organisation")) is not None:
        o = Organisation.__table__
        if not conn.execute(select(exists().where(o.c.name == name))).scalar_one():
            refuse([Problem(None, "unknown_organisation", f"organisation '{name}' does not exist")])
    # Filters naming other records (a release's hazard) are checked as a write's would be.
    kind.references(conn, [filters])


def search(conn: Connection, kind: Kind, *, limit: int = 100, offset: int = 0,
           bbox: tuple[float, float, float, float] | None = None, district: str | None = None,
           organisation: str | None = None, review: Review | None = None,
           reader: Principal | None = EVERYTHING, **filters) -> tuple[list[dict], bool]:
    """Return a page of the records `reader` may see as Features, by id, and whether more follow.

    `filters` are the kind's own (a hazard's classification and status, a release's method
    and hazard). A district, organisation or hazard that does not exist is an error.
    """
    unknown = set(filters) - set(kind.filters)
    if unknown:
        raise InvalidInput(f"{kind.name} cannot be filtered by {', '.join(sorted(unknown))}")
    _refuse_unknown_names(conn, kind, {"district": district, "organisation": organisation,
                                       **filters})
    t, o = kind.table, Organisation.__table__
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
    for name, value in filters.items():
        if value is not None:
            query = query.where(kind.filters[name](t, value))
    rows = conn.execute(query.order_by(t.c.id).limit(limit + 1).offset(offset)).all()
    return [_feature(row, names) for row in rows[:limit]], len(rows) > limit
