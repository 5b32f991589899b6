"""Store baselines: the contaminated area, at a date, that progress is measured against.

A baseline is checked against the loaded units before it is stored: its area is more than
nothing and at most the units' geodesic area (its district's, or the whole country's for a
national one), its date is from 1990 to today, its label printable. It is versioned, kept in
history, corrected by `update` and withdrawn by `withdraw`: a withdrawn baseline stays in the
table and in its history, and no report uses it. Migration 0006 makes the database refuse the
same absurd values.
"""

import datetime as dt
import math
import unicodedata
from decimal import Decimal

from sqlalchemy import Connection, exists, select, text

from minemap.db.models import Baseline, District
from minemap.errors import Conflict, NotFound, PreconditionFailed, Problem
from minemap.store import history
from minemap.store.districts import require_loaded
from minemap.store.records import district_named, refuse
from minemap.store.tokens import Principal
from minemap.vocab import HistoryAction

# baselines.id is an integer, not a bigint (db.models.MAX_ID): a larger id names no baseline.
MAX_ID = 2**31 - 1
B, D = Baseline.__table__, District.__table__

FIRST_DAY = dt.date(1990, 1, 1)  # no baseline is older than the mine action records
MIN_KM2 = 1e-6  # 1 m²: reports count whole m², so a smaller baseline means nothing
LABEL_MAX = 200
ENTITY = "baseline"
WRITTEN = ("label", "as_of", "area_km2", "district_id")


# ---- checking ----------------------------------------------------------------------------

def district_id(conn: Connection, name: str) -> int | None:
    """Return the id of the district called `name` (or with that ISO code), or None."""
    # Some cities share a name with their district (Shaki, Lankaran); the name means the district.
    return conn.execute(
        select(D.c.id).where(district_named(D, name))
        .order_by((D.c.kind == "district").desc(), D.c.id).limit(1)
    ).scalar_one_or_none()


def _shown(km2: float) -> str:
    """Return an area as people read it: 11,667,000,000 or 2.2e-16."""
    if km2 != 0 and not 1e-6 <= abs(km2) < 1e15:
        return f"{km2:.3g}"
    return f"{km2:,.6f}".rstrip("0").rstrip(".")


def _printable(char: str) -> bool:
    # A non-breaking or other spacing character is a space; controls and formats are not text.
    return char.isprintable() or unicodedata.category(char) == "Zs"


def _label_problems(label: str) -> list[Problem]:
    if not label:
        return [Problem(None, "invalid_label", "label is empty; give a name such as "
                                               "'2021 national survey'")]
    problems = []
    odd = next((c for c in label if not _printable(c)), None)
    if odd is not None:
        problems.append(Problem(None, "invalid_label", f"label holds the non-printable "
                                                       f"character U+{ord(odd):04X}; a label "
                                                       "is printable text"))
    if len(label) > LABEL_MAX:
        problems.append(Problem(None, "invalid_label", f"label has {len(label)} characters; "
                                                       f"at most {LABEL_MAX}"))
    return problems


def _date_problems(as_of: dt.date, today: dt.date) -> list[Problem]:
    if as_of < FIRST_DAY:
        return [Problem(None, "date_too_early", f"as_of {as_of} is before {FIRST_DAY}; a "
                                                "baseline is dated from 1990 on")]
    if as_of > today:
        return [Problem(None, "future_date", f"as_of {as_of} is in the future")]
    return []


def units_km2(conn: Connection, district: int | None) -> tuple[float, str]:
    """Return the geodesic area of a district (or, for None, of the union of the loaded
    districts) in km², and what it is the area of."""
    if district is not None:
        name, area_m2 = conn.execute(select(D.c.name, D.c.area_m2).where(D.c.id == district)
                                     ).one()
        return area_m2 / 1e6, f"the district's {{}} km² ({name})"
    area_m2 = conn.execute(text(
        "SELECT minemap_geodesic_area(ST_Union(geom)) FROM districts")).scalar_one()
    return area_m2 / 1e6, "the country's {} km² (the loaded districts)"


def _area_problems(conn: Connection, area_km2: float, district: int | None) -> list[Problem]:
    if not math.isfinite(area_km2):
        return [Problem(None, "invalid_area", f"area_km2 must be a finite number of km², "
                                              f"not {area_km2}")]
    if area_km2 <= 0:
        return [Problem(None, "invalid_area", f"area_km2 must be more than 0, not "
                                              f"{_shown(area_km2)}")]
    if area_km2 < MIN_KM2:
        return [Problem(None, "invalid_area", f"area_km2 {_shown(area_km2)} is under 1 m² "
                                              "(0.000001 km²), the least area reports count")]
    units, whose = units_km2(conn, district)
    if area_km2 <= units:
        return []
    reason = f"area_km2 {_shown(area_km2)} exceeds {whose.format(f'{units:,.1f}')}"
    # Square metres given for km² are a million times too many: far more than the units hold,
    # yet no more than they hold once divided by a million.
    if area_km2 >= 1000 * units and area_km2 / 1e6 <= units:
        reason += (f"; it looks like square metres: {_shown(area_km2)} m² is "
                   f"{_shown(area_km2 / 1e6)} km²")
    return [Problem(None, "area_too_large", reason)]


def check(conn: Connection, *, label: str, as_of: dt.date, area_km2: float,
          district: str | int | None, today: dt.date) -> dict:
    """Return the columns of a baseline (`district` a name, ISO code or id), or raise
    InvalidInput naming every problem; Conflict (409) when no districts are loaded."""
    require_loaded(conn)
    problems = []
    label = label.strip()
    problems += _label_problems(label)
    problems += _date_problems(as_of, today)
    found = district
    if isinstance(district, str):
        # A name with a NUL would not even reach PostgreSQL; none holds a control character.
        found = district_id(conn, district) if district.isprintable() else None
        if found is None:
            problems.append(Problem(None, "unknown_district", f"district '{district}' is "
                                                              "neither a district name nor "
                                                              "an ISO 3166-2 code"))
    if found is not None or district is None:
        problems += _area_problems(conn, float(area_km2), found)
    refuse(problems)
    return {"label": label, "as_of": as_of, "area_km2": float(area_km2), "district_id": found}


# ---- writing -----------------------------------------------------------------------------

def _values(row: dict) -> dict:
    # The area as the decimal the client wrote (repr is the shortest exact), not float8's.
    return {"label": row["label"], "as_of": row["as_of"],
            "area_km2": Decimal(repr(row["area_km2"])), "district_id": row["district_id"]}


INSERT = f"""
WITH written AS (
    INSERT INTO baselines (label, as_of, area_km2, district_id)
    VALUES (:label, :as_of, :area_km2, CAST(:district_id AS integer))
    RETURNING *),
{history.logged(HistoryAction.create, prior=False, geometry=False)}
SELECT id FROM written"""


def _change_sql(action: HistoryAction) -> str:
    """Return an UPDATE of one baseline in use at :id and :version, logged in history."""
    if action is HistoryAction.withdraw:
        sets = "withdrawn_at = now()"
    else:
        sets = ("label = :label, as_of = :as_of, area_km2 = :area_km2,"
                " district_id = CAST(:district_id AS integer)")
    return f"""
WITH prior AS (SELECT * FROM baselines WHERE id = :id),
written AS (
    UPDATE baselines AS t SET {sets}, version = t.version + 1, updated_at = now()
    WHERE t.id = :id AND t.version = :version AND t.withdrawn_at IS NULL
    RETURNING t.*),
{history.logged(action, prior=True, geometry=False)}
SELECT id FROM written"""


def create(conn: Connection, *, label: str, as_of: dt.date, area_km2: float,
           district: str | None = None, today: dt.date, actor: Principal) -> int:
    """Check and store a baseline, national or for one district; return its id."""
    row = check(conn, label=label, as_of=as_of, area_km2=area_km2, district=district,
                today=today)
    return conn.execute(text(INSERT), _values(row) | history.params(ENTITY, actor)).scalar_one()


def _in_use(current: dict) -> None:
    if current["withdrawn_at"] is not None:
        raise Conflict(f"baseline {current['id']} was withdrawn at "
                       f"{current['withdrawn_at'].isoformat()}; it is kept as it was")


def _change(conn: Connection, current: dict, action: HistoryAction, actor: Principal,
            values: dict) -> None:
    changed = conn.execute(text(_change_sql(action)), {
        "id": current["id"], "version": current["version"], **values,
        **history.params(ENTITY, actor),
    }).scalar_one_or_none()
    if changed is None:
        raise PreconditionFailed(f"baseline {current['id']} changed meanwhile; read it again")


def update(conn: Connection, current: dict, changes: dict, *, today: dt.date,
           actor: Principal) -> None:
    """Apply `changes` (label, as_of, area_km2 and/or district; district None: national) to
    the baseline `current` (from `get`). The result is checked whole, as a new one is."""
    _in_use(current)
    refuse([Problem(None, "missing_property", f"{name} cannot be null")
            for name in ("label", "as_of", "area_km2")
            if name in changes and changes[name] is None])
    merged = {name: changes.get(name, current[name]) for name in ("label", "as_of", "area_km2")}
    district = changes["district"] if "district" in changes else current["district_id"]
    row = check(conn, **merged, district=district, today=today)
    _change(conn, current, HistoryAction.update, actor, _values(row))


def withdraw(conn: Connection, current: dict, *, actor: Principal) -> None:
    """Withdraw the baseline `current` (from `get`): kept, and in history, but in no report."""
    _in_use(current)
    _change(conn, current, HistoryAction.withdraw, actor, {})


# ---- reading -----------------------------------------------------------------------------

def as_km2(value: Decimal | float | None) -> float | None:
    """Return a stored area as a finite float, or None for none or one no float can hold
    (only a withdrawn baseline can have one: the database refuses it in one in use)."""
    if value is None:
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _select():
    # The area is read as the stored decimal and made a float in Python: a cast in SQL
    # fails on a number beyond float8, which only a withdrawn baseline could hold.
    return (
        select(B.c.id, B.c.label, B.c.as_of, B.c.area_km2, B.c.district_id,
               D.c.name.label("district"), D.c.iso_3166_2, B.c.version, B.c.created_at,
               B.c.updated_at, B.c.withdrawn_at)
        .select_from(B.outerjoin(D, D.c.id == B.c.district_id))
    )


def _row(row) -> dict:
    values = dict(row._mapping)
    return values | {"area_km2": as_km2(values["area_km2"])}


def all_(conn: Connection, *, withdrawn: bool = False) -> list[dict]:
    """Return the baselines in use (and, with `withdrawn`, the withdrawn ones too): national
    ones first, then by district and date."""
    query = _select().order_by(D.c.name.nulls_first(), B.c.as_of, B.c.id)
    if not withdrawn:
        query = query.where(B.c.withdrawn_at.is_(None))
    return [_row(row) for row in conn.execute(query)]


def get(conn: Connection, baseline_id: int, *, lock: bool = False) -> dict:
    """Return the baseline with id `baseline_id`, withdrawn or not (else NotFound).

    With `lock`, hold its row until the end of the transaction.
    """
    if not 1 <= baseline_id <= MAX_ID:
        raise NotFound(f"no baseline {baseline_id}")
    if lock:
        conn.execute(select(B.c.id).where(B.c.id == baseline_id).with_for_update())
    row = conn.execute(_select().where(B.c.id == baseline_id)).one_or_none()
    if row is None:
        raise NotFound(f"no baseline {baseline_id}")
    return _row(row)


def changes(conn: Connection, baseline_id: int) -> list[dict]:
    """Return the history of a baseline, withdrawn or not, oldest first."""
    if not 1 <= baseline_id <= MAX_ID or not conn.execute(
            select(exists().where(B.c.id == baseline_id))).scalar_one():
        raise NotFound(f"no baseline {baseline_id}")
    return history.entries(conn, ENTITY, baseline_id)
