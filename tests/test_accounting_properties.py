"""Random overlapping rectangles across a district border: accounting equals shapely + pyproj.

Rectangles from 5 m to 1.5 km a side, at any angle, around where the Khojavend/Fuzuli
border (y ≈ 39.688) meets the grid lines x = 47.20 and y = 39.70; dates from a few values so
that ties happen; every review state and some deleted records.
"""

import datetime as dt
import math

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from test_accounting import (
    DEVICES,
    METHODS,
    World,
    add_hazard,
    add_release,
    check_reports,
    check_timeseries,
    district_features,
    load_districts,
    rect,
    same,
)

from minemap import accounting

NAMES = ("Khojavend", "Fuzuli")
DAYS = [dt.date(2020, 1, 1) + dt.timedelta(days=120 * k) for k in range(10)]

shapes = st.builds(
    rect,
    lon=st.floats(47.185, 47.215),
    lat=st.floats(39.678, 39.706),
    width_m=st.floats(math.log(5), math.log(1500)).map(math.exp),
    height_m=st.floats(math.log(5), math.log(1500)).map(math.exp),
    angle=st.floats(0, 90),
)
reviews = st.sampled_from(["approved", "approved", "approved", "submitted", "rejected"])
deleted = st.sampled_from([False, False, False, False, True])
hazards = st.fixed_dictionaries({
    "geom": shapes, "day": st.sampled_from(DAYS), "review": reviews, "deleted": deleted})
releases = st.fixed_dictionaries({
    "geom": shapes, "day": st.sampled_from(DAYS), "method": st.sampled_from(METHODS),
    "review": reviews, "deleted": deleted,
    "devices": st.fixed_dictionaries({d: st.integers(0, 3) for d in DEVICES})})


def near_the_threshold(world: World, day, include_submitted) -> bool:
    """Whether a hazard's own remaining area is too close to 1 m² to call closed or not."""
    return any(0.5 < world.hazard_remaining(h, day, include_submitted) < 2
               for h in world.counted(world.hazards, include_submitted) if h.day <= day)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(hazard_list=st.lists(hazards, min_size=1, max_size=6),
       release_list=st.lists(releases, max_size=6),
       days=st.lists(st.sampled_from(DAYS + [dt.date(2030, 1, 1)]), min_size=1, max_size=3),
       include_submitted=st.booleans())
def test_random_overlaps_equal_the_independent_computation(engine, hazard_list, release_list,
                                                           days, include_submitted):
    with engine.begin() as conn:
        # One database for every example: clear the records (the triggers mark their cells).
        conn.execute(text("DELETE FROM releases"))
        conn.execute(text("DELETE FROM hazards"))
        if not conn.execute(text("SELECT count(*) FROM districts")).scalar():
            load_districts(conn, NAMES)
        world = World({p["name"]: (p["iso_3166_2"], p["geom"]) for p in district_features(NAMES)})
        for h in hazard_list:
            add_hazard(conn, world, h["geom"], h["day"], review=h["review"], deleted=h["deleted"])
        for r in release_list:
            add_release(conn, world, r["geom"], r["day"], r["method"], review=r["review"],
                        deleted=r["deleted"], **r["devices"])
        accounting.refresh(conn)  # as every writer does before it reports or commits
        for day in days:
            assume(not near_the_threshold(world, day, include_submitted))
            check_reports(conn, world, day, include_submitted)
        check_timeseries(conn, world, DAYS[1], DAYS[-1], "year", include_submitted)
        kwargs = dict(as_of=days[0], baseline_km2=1.0, baseline_date=DAYS[2],
                      include_submitted=include_submitted)
        incremental = accounting.districts(conn, **kwargs)
        accounting.rebuild(conn)
        assert same(incremental, accounting.districts(conn, **kwargs))
