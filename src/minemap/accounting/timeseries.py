"""Report the land released per month or year, and the baseline's burn-down (CONTRACT §4).

The pieces are summed by the periods their dates fall in, rounded as the summary rounds,
so that each period's figures at its end equal the summary's at that date.
"""

import datetime as dt

from sqlalchemy import Connection, text

from minemap.accounting.pieces import require_current
from minemap.accounting.reports import (METHODS, VIEWS, baseline_fields, baselines_at,
                                        whole_m2, year_before)
from minemap.errors import InvalidInput
from minemap.store.districts import require_loaded

STEPS = {"month": "1 month", "year": "1 year"}

# The index of the period a date falls in, counted from the one holding :start.
PERIOD_INDEX = {
    "month": "12 * (EXTRACT(YEAR FROM {d}) - EXTRACT(YEAR FROM CAST(:start AS date)))"
             " + EXTRACT(MONTH FROM {d}) - EXTRACT(MONTH FROM CAST(:start AS date))",
    "year": "EXTRACT(YEAR FROM {d}) - EXTRACT(YEAR FROM CAST(:start AS date))",
}


def _timeseries_sql(view: dict, interval: str) -> str:
    h, r, m = view["hazard_on"], view["release_on"], view["method"]

    def index(d: str) -> str:
        return f"CASE WHEN {d} < :start THEN -1 ELSE {PERIOD_INDEX[interval].format(d=d)} END"

    in_period = "b.released = p.k AND b.counted = p.k"
    by_method = ",\n".join(
        f"coalesce(sum(b.area_m2) FILTER (WHERE {in_period} AND b.method = '{method}'), 0)"
        f" AS {method}_m2" for method in ("cancelled", "reduced", "cleared"))
    return f"""
WITH periods AS (
    SELECT row_number() OVER (ORDER BY p) - 1 AS k,
           greatest(CAST(p AS date), :start) AS period,
           least(CAST(p + CAST(:step AS interval) - interval '1 day' AS date), :end) AS period_end
    FROM generate_series(date_trunc(:unit, CAST(:start AS timestamp)), CAST(:end AS timestamp),
                         CAST(:step AS interval)) AS p
),
buckets AS (
    -- The pieces summed by the period their hazard was recorded in, the one their first
    -- release was completed in, and the later of the two (from when they count as released;
    -- -1 is before the start). A handful of rows, however many pieces.
    SELECT {index(h)} AS recorded, {index(r)} AS released,
           {index(f"CASE WHEN {r} IS NOT NULL THEN greatest({h}, {r}) END")} AS counted,
           {m} AS method, sum(CAST(round(area_m2 * 1e6) AS bigint)) AS area_m2
    FROM pieces WHERE {h} <= :end
    GROUP BY 1, 2, 3, 4
)
SELECT p.period, p.period_end,
       {by_method},
       coalesce(sum(b.area_m2) FILTER (WHERE {in_period}), 0) AS released_m2,
       coalesce(sum(b.area_m2) FILTER (WHERE b.counted <= p.k), 0) AS released_cumulative_m2,
       coalesce(sum(b.area_m2) FILTER (WHERE b.recorded <= p.k), 0) AS mapped_m2
FROM periods AS p LEFT JOIN buckets AS b ON true
GROUP BY p.k, p.period, p.period_end
ORDER BY p.k
"""


# Per period and unit, the land released by the period's end that counts against the
# baseline in force then, and the land released in the 12 months before it: the summary's
# since_national and last_year at each period's end, from pieces grouped by their dates.
SINCE_BASELINE_SQL = """
WITH ends AS (
    SELECT * FROM unnest(CAST(:ends AS date[]), CAST(:baseline_dates AS date[]),
                         CAST(:years_ago AS date[])) AS e(period_end, baseline_date, year_ago)
),
released AS (
    SELECT district_id, {h} AS h, {r} AS r, sum(CAST(round(area_m2 * 1e6) AS bigint)) AS micro
    FROM pieces WHERE {h} <= :end AND {r} <= :end
    GROUP BY 1, 2, 3
)
SELECT e.period_end, x.district_id,
       sum(x.micro) FILTER (WHERE x.r > e.baseline_date) AS since_baseline,
       sum(x.micro) FILTER (WHERE x.r > e.year_ago) AS last_year
FROM ends AS e JOIN released AS x ON x.h <= e.period_end AND x.r <= e.period_end
GROUP BY e.period_end, x.district_id
"""

def _baseline_by_period(conn: Connection, view: dict, ends: list[dt.date], *, end: dt.date,
                        baseline_km2: float, baseline_date: dt.date) -> list[dict]:
    """Return the summary's baseline fields at each day of `ends`, rounded as it rounds
    them (each unit's sums to whole m², then added up)."""
    baselines = baselines_at(conn, ends, baseline_km2, baseline_date)
    sql = text(SINCE_BASELINE_SQL.format(h=view["hazard_on"], r=view["release_on"]))
    sums = {day: {"since": 0, "last_year": 0} for day in ends}
    for row in conn.execute(sql, {"ends": ends, "baseline_dates": [d for d, _ in baselines],
                                  "years_ago": [year_before(day) for day in ends],
                                  "end": end}):
        sums[row.period_end]["since"] += whole_m2(row.since_baseline)
        sums[row.period_end]["last_year"] += whole_m2(row.last_year)
    return [baseline_fields(day, km2, date, sums[day]["since"], sums[day]["last_year"])
            for day, (date, km2) in zip(ends, baselines)]


def timeseries(conn: Connection, *, start: dt.date, end: dt.date, interval: str,
               baseline_km2: float, baseline_date: dt.date,
               include_submitted: bool = False) -> list[dict]:
    """Return, per month or year from `start` to `end`, the land released in it and after it,
    and the baseline figures at its end (the burn-down against the baseline).

    Periods are calendar months or years clipped to [start, end]. Released land counts in a
    period when its first release was completed in it and a hazard covering it was recorded
    by the period's end; cumulative, remaining and baseline figures are as at the period's
    end, equal to the summary's at that date.
    """
    if interval not in STEPS:
        raise InvalidInput(f"interval must be one of {', '.join(STEPS)}, not {interval!r}")
    if start > end:
        raise InvalidInput(f"start {start} is after end {end}")
    require_loaded(conn)
    require_current(conn)
    params = {"start": start, "end": end, "unit": interval, "step": STEPS[interval]}
    rows = []
    sql = text(_timeseries_sql(VIEWS[include_submitted], interval))
    for row in conn.execute(sql, params).mappings():
        # Rounded as the reports are: the methods and what remains; the rest are their sums.
        period = {key: row[key] for key in ("period", "period_end")}
        period |= {f"{method}_m2": whole_m2(row[f"{method}_m2"]) for method in METHODS}
        period["released_m2"] = sum(period[f"{method}_m2"] for method in METHODS)
        period["released_cumulative_m2"] = whole_m2(row["released_cumulative_m2"])
        period["remaining_m2"] = whole_m2(row["mapped_m2"] - row["released_cumulative_m2"])
        period["mapped_m2"] = period["released_cumulative_m2"] + period["remaining_m2"]
        rows.append(period)
    baselines = _baseline_by_period(conn, VIEWS[include_submitted],
                                    [row["period_end"] for row in rows], end=end,
                                    baseline_km2=baseline_km2, baseline_date=baseline_date)
    return [row | baseline for row, baseline in zip(rows, baselines)]
