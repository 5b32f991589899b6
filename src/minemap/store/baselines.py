"""Store baselines: the contaminated area, at a date, that progress is measured against."""

import datetime as dt

from sqlalchemy import Connection, Float, cast, select

from minemap.db.models import Baseline, District
from minemap.errors import NotFound, Problem
from minemap.store.records import district_named, refuse

B, D = Baseline.__table__, District.__table__


def district_id(conn: Connection, name: str) -> int:
    """Return the id of the district called `name` (or with that ISO code); 422 if none."""
    # Some cities share a name with their district (Shaki, Lankaran); the name means the district.
    found = conn.execute(
        select(D.c.id).where(district_named(D, name))
        .order_by((D.c.kind == "district").desc(), D.c.id).limit(1)
    ).scalar_one_or_none()
    if found is None:
        refuse([Problem(None, "unknown_district", f"district '{name}' is neither a district "
                                                  "name nor an ISO 3166-2 code")])
    return found


def create(conn: Connection, *, label: str, as_of: dt.date, area_km2: float,
           district: str | None = None, today: dt.date) -> int:
    """Store a baseline, national or for one district; return its id."""
    if as_of > today:
        refuse([Problem(None, "future_date", f"as_of {as_of} is in the future")])
    return conn.execute(
        B.insert().values(label=label.strip(), as_of=as_of, area_km2=area_km2,
                          district_id=district_id(conn, district) if district else None)
        .returning(B.c.id)
    ).scalar_one()


def _select():
    return (
        select(B.c.id, B.c.label, B.c.as_of, cast(B.c.area_km2, Float).label("area_km2"),
               D.c.name.label("district"), D.c.iso_3166_2)
        .select_from(B.outerjoin(D, D.c.id == B.c.district_id))
    )


def all_(conn: Connection) -> list[dict]:
    """Return every baseline, national ones first, then by district and date."""
    rows = conn.execute(_select().order_by(D.c.name.nulls_first(), B.c.as_of, B.c.id))
    return [dict(row._mapping) for row in rows]


def one(conn: Connection, baseline_id: int) -> dict:
    """Return the baseline with id `baseline_id`."""
    row = conn.execute(_select().where(B.c.id == baseline_id)).one_or_none()
    if row is None:
        raise NotFound(f"no baseline {baseline_id}")
    return dict(row._mapping)
