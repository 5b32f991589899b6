"""Report mapped, released and remaining land as sums over the pieces (CONTRACT §4).

A piece is disjoint from every other and carries the earliest date a counted hazard covered
it and the earliest counted release of it, so at a date T: mapped = Σ area where hazard_on ≤ T;
released = Σ where also release_on ≤ T, split by that release's method; released outside =
Σ where release_on ≤ T and no hazard by T; remaining = mapped − released.

Readings of the contract made here:
- National figures are sums over every piece, whatever the district table says. Land in no
  district (a polygon reaching past the border line, offshore) is one `outside districts`
  row, so the rows (that one included) sum to the nation.
- A hazard or a release counts, for hazard totals and device totals, in its home district
  (pieces.HOME), or outside districts; those totals therefore also sum to the national ones.
- Every area is a whole m². Pieces are summed exactly, as integers of µm², so the same data
  gives the same figures whatever order the rows are read in (after a restore, say). Per row,
  the method areas, the remaining, the released-outside and the baseline areas are rounded
  from those sums; released, mapped and every national figure are sums of rounded figures,
  so mapped = released + remaining, the methods sum to released and the rows sum to the
  nation exactly, in the output too.
- Units that share a name (Shusha the district and Shusha the city) are told apart: their
  `district` is "Shusha" and "Shusha (city)", and every row carries the unit's code.
- A hazard is closed at T when less than 1 m² of it is left unreleased by releases completed
  by T: refresh stores the day each hazard closed, so this is exact for any T.
- released_since_baseline_m2 is land first released after the baseline date (and by T): land
  released before that date was not in the baseline. The release rate behind
  projected_completion is the land first released in the 12 months up to T; the projection is
  T itself once the baseline is used up, and None while that rate is zero.
- Withdrawn baselines are not used. No figure is ever a non-finite number: a baseline no
  float can hold (the database refuses one in use) counts as none, and a progress or a
  projection that a float cannot hold is None.
"""

import datetime as dt
import math

from sqlalchemy import Connection, text

from minemap.accounting.pieces import require_current
from minemap.store.baselines import as_km2
from minemap.store.districts import LABEL, require_loaded
from minemap.vocab import DEVICE_FIELDS

# Column names per view: approved records only, or approved and submitted ones. Chosen from
# this table, never from input.
VIEWS = {
    False: {"hazard_on": "hazard_on", "release_on": "release_on", "method": "release_method",
            "closed_on": "closed_on", "reviews": ["approved"]},
    True: {"hazard_on": "hazard_on_all", "release_on": "release_on_all",
           "method": "release_method_all", "closed_on": "closed_on_all",
           "reviews": ["approved", "submitted"]},
}
AREAS = ("mapped_m2", "released_m2", "cancelled_m2", "reduced_m2", "cleared_m2",
         "released_outside_m2", "remaining_m2")
METHODS = ("cancelled", "reduced", "cleared")
OUTSIDE = "outside districts"  # the row of land in no district
MICRO = 10**6  # µm² per m²


def whole_m2(micro) -> int:
    """Return µm² (an exact integer sum, or None for none) as whole m², halves rounded up."""
    return (int(micro or 0) + MICRO // 2) // MICRO


def _by_district(view: dict) -> str:
    """One row per unit, and one for land outside them: the area sums (in µm²), hazard
    counts, devices and the district baseline."""
    h, r, m = view["hazard_on"], view["release_on"], view["method"]
    devices = ", ".join(f"sum(r.{d}) AS {d}" for d in DEVICE_FIELDS)
    released = f"p.{h} <= :as_of AND p.{r} <= :as_of"
    return f"""
WITH district_baselines AS (
    SELECT DISTINCT ON (district_id) district_id, as_of, area_km2
    FROM baselines
    WHERE district_id IS NOT NULL AND withdrawn_at IS NULL AND as_of <= :as_of
    ORDER BY district_id, as_of DESC, id DESC
),
areas AS (
    -- Integer sums (µm² per piece) are exact: the same in any order of the rows.
    SELECT p.district_id,
           sum(p.micro) FILTER (WHERE p.{h} <= :as_of) AS mapped,
           sum(p.micro) FILTER (WHERE {released}) AS released,
           sum(p.micro) FILTER (WHERE {released} AND p.{m} = 'cancelled') AS cancelled,
           sum(p.micro) FILTER (WHERE {released} AND p.{m} = 'reduced') AS reduced,
           sum(p.micro) FILTER (WHERE {released} AND p.{m} = 'cleared') AS cleared,
           sum(p.micro) FILTER (WHERE p.{r} <= :as_of AND (p.{h} IS NULL OR p.{h} > :as_of))
               AS released_outside,
           -- Land first released after a baseline date: the baseline already excluded
           -- what had been released before it.
           sum(p.micro) FILTER (WHERE {released} AND p.{r} > :national_date) AS since_national,
           sum(p.micro) FILTER (WHERE {released} AND p.{r} > b.as_of) AS since_district,
           sum(p.micro) FILTER (WHERE {released} AND p.{r} > :year_ago) AS last_year
    FROM (SELECT *, CAST(round(area_m2 * 1e6) AS bigint) AS micro FROM pieces) AS p
    LEFT JOIN district_baselines AS b USING (district_id)
    WHERE p.{h} <= :as_of OR p.{r} <= :as_of
    GROUP BY p.district_id
),
hazard_counts AS (
    SELECT a.district_id,
           count(*) FILTER (WHERE a.{view["closed_on"]} IS NULL
                            OR a.{view["closed_on"]} > :as_of) AS hazards_active,
           count(*) FILTER (WHERE a.{view["closed_on"]} <= :as_of) AS hazards_closed
    FROM hazards AS h JOIN hazard_accounting AS a ON a.hazard_id = h.id
    WHERE h.deleted_at IS NULL AND h.review = ANY(CAST(:reviews AS review_state[]))
      AND h.recorded_on <= :as_of
    GROUP BY a.district_id
),
device_totals AS (
    SELECT a.district_id, {devices}
    FROM releases AS r JOIN release_accounting AS a ON a.release_id = r.id
    WHERE r.deleted_at IS NULL AND r.review = ANY(CAST(:reviews AS review_state[]))
      AND r.completed_on <= :as_of
    GROUP BY a.district_id
),
units AS (
    SELECT id, code, {LABEL.format(d="districts")} AS name, kind, iso_3166_2 FROM districts
    UNION ALL
    SELECT NULL, NULL, '{OUTSIDE}', NULL, NULL
)
SELECT u.code AS district_code, u.name, u.kind, u.iso_3166_2,
       a.mapped, a.released, a.cancelled, a.reduced, a.cleared, a.released_outside,
       a.since_national, a.since_district, a.last_year,
       c.hazards_active, c.hazards_closed, {", ".join(f"t.{d}" for d in DEVICE_FIELDS)},
       b.as_of AS baseline_date, b.area_km2 AS baseline_km2
FROM units AS u
LEFT JOIN areas AS a ON a.district_id IS NOT DISTINCT FROM u.id
LEFT JOIN hazard_counts AS c ON c.district_id IS NOT DISTINCT FROM u.id
LEFT JOIN device_totals AS t ON t.district_id IS NOT DISTINCT FROM u.id
LEFT JOIN district_baselines AS b ON b.district_id = u.id
ORDER BY u.id IS NULL, u.name, u.id
"""


# Areas are read as the stored decimals: as_km2 makes them floats, where a cast in SQL would
# fail on one beyond float8.
NATIONAL_BASELINES = text("""
SELECT as_of, area_km2 FROM baselines
WHERE district_id IS NULL AND withdrawn_at IS NULL AND as_of <= :end
ORDER BY as_of, id
""")


def baselines_at(conn: Connection, ends: list[dt.date], baseline_km2: float,
                  baseline_date: dt.date) -> list[tuple[dt.date, float]]:
    """Return, for each day of `ends`, the national baseline (date, km²) in force: the
    latest stored one by then, else the one given."""
    stored = conn.execute(NATIONAL_BASELINES, {"end": max(ends)}).all()
    chosen = []
    for end in ends:
        in_force = [row for row in stored if row.as_of <= end]  # later rows win
        chosen.append((in_force[-1].as_of, as_km2(in_force[-1].area_km2)) if in_force
                      else (baseline_date, baseline_km2))
    return chosen


def year_before(day: dt.date) -> dt.date:
    """Return the same day a year earlier (28 February for 29 February)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def baseline_fields(as_of: dt.date, baseline_km2: float | None, baseline_date: dt.date | None,
                     since_m2: int, last_year_m2: int) -> dict:
    """Return the baseline figures; all None without a usable baseline (a positive, finite
    area), and None for any that a float cannot hold."""
    if baseline_km2 is None or not math.isfinite(baseline_km2) or baseline_km2 <= 0:
        return dict.fromkeys(("baseline_km2", "baseline_date", "released_since_baseline_m2",
                              "baseline_remaining_km2", "progress", "projected_completion"))
    remaining_km2 = baseline_km2 - since_m2 / 1e6
    per_day = last_year_m2 / (as_of - year_before(as_of)).days
    days = remaining_km2 * 1e6 / per_day if per_day > 0 else math.inf
    if remaining_km2 <= 0:
        projected = as_of
    elif not math.isfinite(days):
        projected = None
    else:
        try:
            projected = as_of + dt.timedelta(days=math.ceil(days))
        except OverflowError:  # beyond the year 9999
            projected = None
    return {
        "baseline_km2": baseline_km2,
        "baseline_date": baseline_date,
        "released_since_baseline_m2": since_m2,
        "baseline_remaining_km2": finite(round(remaining_km2, 6)),  # to the m², as every area
        "progress": finite(since_m2 / (baseline_km2 * 1e6)),
        "projected_completion": projected,
    }


def finite(number: float) -> float | None:
    """Return `number`, or None for one JSON cannot hold (inf, nan)."""
    return number if math.isfinite(number) else None


def _rows(conn: Connection, *, as_of: dt.date, national_date: dt.date,
          include_submitted: bool) -> list[dict]:
    """Return one row per unit and one for land outside them, every area in whole m²."""
    require_loaded(conn)
    require_current(conn)
    view = VIEWS[include_submitted]
    params = {"as_of": as_of, "national_date": national_date, "year_ago": year_before(as_of),
              "reviews": view["reviews"]}
    found = [dict(row) for row in conn.execute(text(_by_district(view)), params).mappings()]
    rows = []
    for row in found:
        out = {"district": row["name"], "district_code": row["district_code"],
               "iso_3166_2": row["iso_3166_2"]}
        for key in (*METHODS, "released_outside", "since_national", "since_district",
                    "last_year"):
            out[f"{key}_m2"] = whole_m2(row[key])
        out["remaining_m2"] = whole_m2((row["mapped"] or 0) - (row["released"] or 0))
        out["released_m2"] = sum(out[f"{method}_m2"] for method in METHODS)
        out["mapped_m2"] = out["released_m2"] + out["remaining_m2"]
        for key in ("hazards_active", "hazards_closed", *DEVICE_FIELDS):
            out[key] = int(row[key] or 0)
        out["baseline_date"] = row["baseline_date"]
        out["baseline_km2"] = as_km2(row["baseline_km2"])
        rows.append(out)
    return rows


def _figures(as_of: dt.date, row: dict) -> dict:
    """The summary fields common to a district row and the national row."""
    return {
        "as_of": as_of,
        **{key: row[key] for key in AREAS},
        "hazards_active": row["hazards_active"],
        "hazards_closed": row["hazards_closed"],
        "devices": {d: row[d] for d in DEVICE_FIELDS},
    }


def summary(conn: Connection, *, as_of: dt.date, baseline_km2: float, baseline_date: dt.date,
            include_submitted: bool = False) -> dict:
    """Return the national figures at `as_of` (CONTRACT §5 summary).

    The baseline is the latest national row of `baselines` as of `as_of`, else the one given.
    """
    [(baseline_date, baseline_km2)] = baselines_at(conn, [as_of], baseline_km2, baseline_date)
    rows = _rows(conn, as_of=as_of, national_date=baseline_date,
                 include_submitted=include_submitted)
    keys = (*AREAS, "hazards_active", "hazards_closed", *DEVICE_FIELDS,
            "since_national_m2", "last_year_m2")
    total = {key: sum(row[key] for row in rows) for key in keys}  # whole numbers: exact
    return {**_figures(as_of, total),
            **baseline_fields(as_of, baseline_km2, baseline_date,
                               total["since_national_m2"], total["last_year_m2"])}


def districts(conn: Connection, *, as_of: dt.date, baseline_km2: float, baseline_date: dt.date,
              include_submitted: bool = False) -> list[dict]:
    """Return one row per district with mapped or released land (or hazards, or devices),
    and last the `outside districts` row when land outside them counts.

    `baseline_km2` and `baseline_date` are accepted for symmetry with `summary`: a district's
    baseline comes from its own latest row of `baselines`, and is None without one.
    """
    out = []
    for row in _rows(conn, as_of=as_of, national_date=baseline_date,
                     include_submitted=include_submitted):
        counted = (row["mapped_m2"], row["released_outside_m2"], row["hazards_active"],
                   row["hazards_closed"], *(row[d] for d in DEVICE_FIELDS))
        if not any(counted):
            continue
        out.append({
            "district": row["district"],
            "district_code": row["district_code"],
            "iso_3166_2": row["iso_3166_2"],
            **_figures(as_of, row),
            **baseline_fields(as_of, row["baseline_km2"], row["baseline_date"],
                               row["since_district_m2"], row["last_year_m2"]),
        })
    return out
