"""Land-release accounting equals an independent shapely + pyproj computation of CONTRACT §4.

Every polygon here, districts included, has edges of at most STEP degrees (about 100 m).
The pieces are cut by a 0.05° grid and by each other, and cutting a planar edge of length L
adds a vertex up to L² tan(lat) / (8 R) off the geodesic between its ends, which moves a
geodesic area by about half L times that: 8 m² for a 1 km east-west edge at 40°N, under
0.01 m² for 100 m. The reference cuts by districts and overlaps too, so with short edges the
two agree to a relative 1e-6 and 1 m².
"""

import datetime as dt
import functools
import itertools
import json
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import shapely
from pyproj import Geod
from shapely.geometry import Polygon, box, shape
from shapely.geometry.polygon import orient
from sqlalchemy import text

from minemap import accounting

ROOT = Path(__file__).parents[1]
STEP = 0.001
GEOD = Geod(ellps="WGS84")
METHODS = ("cancelled", "reduced", "cleared")
DEVICES = ("ap_mines", "at_mines", "uxo", "cmr", "ied")
D = dt.date
_codes = itertools.count(1)


# --- the independent computation --------------------------------------------------------

def area(g) -> float:
    """Geodesic area on WGS84 of the polygonal parts of `g`, in m²."""
    total = 0.0
    for part in shapely.get_parts(g):
        if isinstance(part, Polygon):
            total += abs(GEOD.geometry_area_perimeter(orient(part))[0])
        elif part.geom_type in ("MultiPolygon", "GeometryCollection"):
            total += area(part)
    return total


def union(geoms) -> shapely.Geometry:
    return shapely.union_all(list(geoms)) if geoms else shapely.Polygon()


def rect(lon: float, lat: float, width_m: float, height_m: float, angle: float = 0) -> Polygon:
    """A rectangle of the given size in metres centred on lon/lat, with short edges."""
    dx = width_m / 2 / (111320 * math.cos(math.radians(lat)))
    dy = height_m / 2 / 110574
    g = shapely.affinity.rotate(box(lon - dx, lat - dy, lon + dx, lat + dy), angle)
    return shapely.segmentize(g, STEP)


@dataclass
class Record:
    id: int
    geom: Polygon
    day: dt.date  # recorded_on for a hazard, completed_on for a release
    method: str | None = None
    review: str = "approved"
    deleted: bool = False
    devices: dict = field(default_factory=dict)


@dataclass
class World:
    """The raw inputs as the tests wrote them, and the figures CONTRACT §4 defines on them."""

    districts: dict  # name -> (iso, geometry)
    hazards: list = field(default_factory=list)
    releases: list = field(default_factory=list)

    def counted(self, records, include_submitted: bool) -> list:
        reviews = {"approved", "submitted"} if include_submitted else {"approved"}
        return [r for r in records if not r.deleted and r.review in reviews]

    def hazard_land(self, day, include_submitted=False):
        counted = self.counted(self.hazards, include_submitted)
        return union([h.geom for h in counted if h.day <= day])

    def releases_by(self, day, include_submitted=False) -> list:
        done = [r for r in self.counted(self.releases, include_submitted) if r.day <= day]
        return sorted(done, key=lambda r: (r.day, r.id))

    def figures(self, region, day, include_submitted=False, since=None) -> dict:
        """Areas inside `region` at `day`; `since` adds the land first released after it."""
        hazard_land = region.intersection(self.hazard_land(day, include_submitted))
        releases = self.releases_by(day, include_submitted)
        released_land = union([r.geom for r in releases])
        out = {
            "mapped_m2": area(hazard_land),
            "released_m2": area(hazard_land.intersection(released_land)),
            "released_outside_m2": area(region.intersection(released_land).difference(
                self.hazard_land(day, include_submitted))),
            "remaining_m2": area(hazard_land.difference(released_land)),
        }
        seen = shapely.Polygon()
        for method in METHODS:
            out[f"{method}_m2"] = 0.0
        for r in releases:  # the earliest release wins each piece of land
            out[f"{r.method}_m2"] += area(hazard_land.intersection(r.geom.difference(seen)))
            seen = seen.union(r.geom)
        year_before = day.replace(year=day.year - 1)  # no test day is a 29 February
        for key, after in (("since", since), ("last_year", year_before)):
            if after is not None:
                before = union([r.geom for r in releases if r.day <= after])
                out[key] = area(hazard_land.intersection(released_land.difference(before)))
        return out

    def hazard_remaining(self, hazard, day=None, include_submitted=False) -> float:
        releases = self.counted(self.releases, include_submitted)
        return area(hazard.geom.difference(union([r.geom for r in releases
                                                 if day is None or r.day <= day])))

    def hazard_counts(self, day, include_submitted=False, within=None) -> tuple[int, int]:
        """(active, closed) among counted hazards recorded by `day` (and inside `within`)."""
        active = closed = 0
        for h in self.counted(self.hazards, include_submitted):
            if h.day <= day and (within is None or within.contains(h.geom)):
                if self.hazard_remaining(h, day, include_submitted) < 1:
                    closed += 1
                else:
                    active += 1
        return active, closed

    def devices(self, day, include_submitted=False, within=None) -> dict:
        done = [r for r in self.releases_by(day, include_submitted)
                if within is None or within.contains(r.geom)]
        return {d: sum(r.devices.get(d, 0) for r in done) for d in DEVICES}


# --- writing the inputs ------------------------------------------------------------------

@functools.cache
def district_features(names: tuple[str, ...]) -> tuple[dict, ...]:
    """The named districts of the GeoJSON, densified to STEP."""
    features = json.loads((ROOT / "data/districts/azerbaijan_districts.geojson").read_text())
    return tuple({**f["properties"], "geom": shapely.segmentize(shape(f["geometry"]), STEP)}
                 for f in features["features"]
                 if f["properties"]["name"] in names and f["properties"]["kind"] == "district")


def load_districts(conn, names: tuple[str, ...]) -> dict:
    """Insert the named districts; return name -> (iso, geometry)."""
    out = {}
    for p in district_features(names):
        conn.execute(text(
            "INSERT INTO districts (code, name, name_az, kind, iso_3166_2, geom) "
            "VALUES (:code, :name, :name_az, 'district', :iso, "
            "        ST_Multi(ST_GeomFromWKB(:wkb, 4326)))"),
            {"code": p["iso_3166_2"][3:], "name": p["name"], "name_az": p["name_az"],
             "iso": p["iso_3166_2"], "wkb": shapely.to_wkb(p["geom"])})
        out[p["name"]] = (p["iso_3166_2"], p["geom"])
    return out


def organisation(conn) -> int:
    found = conn.execute(text("SELECT id FROM organisations WHERE name = 'ANAMA'")).scalar()
    return found or conn.execute(text(
        "INSERT INTO organisations (name) VALUES ('ANAMA') RETURNING id")).scalar_one()


def add_hazard(conn, world: World, geom, day, *, review="approved", deleted=False) -> Record:
    hazard_id = conn.execute(text(
        "INSERT INTO hazards (code, classification, hazard_types, organisation_id, recorded_on,"
        "                     geom, review, deleted_at) "
        "VALUES (:code, 'SHA', ARRAY['AP']::hazard_type[], :org, :day,"
        "        ST_Multi(ST_GeomFromWKB(:wkb, 4326)), CAST(:review AS review_state),"
        "        CASE WHEN :deleted THEN now() END) RETURNING id"),
        {"code": f"T-H-{next(_codes)}", "org": organisation(conn), "day": day,
         "wkb": shapely.to_wkb(geom), "review": review, "deleted": deleted}).scalar_one()
    record = Record(hazard_id, geom, day, review=review, deleted=deleted)
    world.hazards.append(record)
    return record


def add_release(conn, world: World, geom, day, method, *, review="approved", deleted=False,
                **devices) -> Record:
    release_id = conn.execute(text(
        "INSERT INTO releases (code, method, organisation_id, completed_on, geom, review,"
        "                      deleted_at, ap_mines, at_mines, uxo, cmr, ied) "
        "VALUES (:code, CAST(:method AS release_method), :org, :day,"
        "        ST_Multi(ST_GeomFromWKB(:wkb, 4326)), CAST(:review AS review_state),"
        "        CASE WHEN :deleted THEN now() END, :ap_mines, :at_mines, :uxo, :cmr, :ied)"
        " RETURNING id"),
        {"code": f"T-R-{next(_codes)}", "method": method, "org": organisation(conn), "day": day,
         "wkb": shapely.to_wkb(geom), "review": review, "deleted": deleted,
         **{d: devices.get(d, 0) for d in DEVICES}}).scalar_one()
    record = Record(release_id, geom, day, method, review, deleted, devices)
    world.releases.append(record)
    return record


# --- comparing -------------------------------------------------------------------------

# Everywhere: national figures count land in no district too.
EVERYWHERE = box(-180, -90, 180, 90)
OUTSIDE = "outside districts"


def close(got: float, want: float, rel: float = 1e-6, abs_m2: float = 2.0) -> bool:
    """Reports give whole m², sums of up to four figures rounded to the m²: within 2 m²."""
    return abs(got - want) <= rel * max(abs(got), abs(want)) + abs_m2


AREA_KEYS = ("mapped_m2", "released_m2", "cancelled_m2", "reduced_m2", "cleared_m2",
             "released_outside_m2", "remaining_m2")


def assert_areas(got: dict, want: dict, where: str) -> None:
    bad = {k: (got[k], want[k]) for k in AREA_KEYS if not close(got[k], want[k])}
    assert not bad, f"{where}: (got, want) {bad}"


def assert_identities(summary: dict, rows: list[dict]) -> None:
    """The identities of CONTRACT §4 hold exactly, in whole m²."""
    for row in (summary, *rows):
        assert all(type(row[key]) is int for key in AREA_KEYS), row
        assert row["mapped_m2"] == row["released_m2"] + row["remaining_m2"]
        assert row["released_m2"] == sum(row[f"{m}_m2"] for m in METHODS)
    for key in AREA_KEYS:
        assert summary[key] == sum(r[key] for r in rows), key
    for key in ("hazards_active", "hazards_closed"):
        assert summary[key] == sum(r[key] for r in rows), key
    for device in DEVICES:
        assert summary["devices"][device] == sum(r["devices"][device] for r in rows), device


def check_reports(conn, world: World, day, include_submitted=False) -> None:
    """Compare the summary and the district rows at `day` with the world's own figures."""
    kwargs = dict(as_of=day, baseline_km2=100.0, baseline_date=D(2021, 1, 1),
                  include_submitted=include_submitted)
    summary = accounting.summary(conn, **kwargs)
    rows = {r["district"]: r for r in accounting.districts(conn, **kwargs)}
    country = union([g for _, g in world.districts.values()])
    outside = world.figures(EVERYWHERE.difference(country), day, include_submitted)
    if OUTSIDE in rows:
        assert rows[OUTSIDE]["iso_3166_2"] is None and rows[OUTSIDE]["district_code"] is None
        assert_areas(rows[OUTSIDE], outside, f"outside districts at {day}")
    else:
        assert all(close(outside[k], 0) for k in AREA_KEYS), f"no outside row: {outside}"
    for name, (iso, geom) in world.districts.items():
        want = world.figures(geom, day, include_submitted)
        if name not in rows:
            assert all(close(want[k], 0) for k in AREA_KEYS), f"{name} has no row: {want}"
            continue
        assert rows[name]["iso_3166_2"] == iso
        assert_areas(rows[name], want, f"{name} at {day}")
        # Records inside one district are counted there; those across a border in one of them.
        inside = world.hazard_counts(day, include_submitted, within=geom)
        assert rows[name]["hazards_active"] >= inside[0]
        assert rows[name]["hazards_closed"] >= inside[1]
        devices = world.devices(day, include_submitted, within=geom)
        assert all(rows[name]["devices"][d] >= devices[d] for d in DEVICES)
    assert_areas(summary, world.figures(EVERYWHERE, day, include_submitted), f"national at {day}")
    assert (summary["hazards_active"], summary["hazards_closed"]) == \
        world.hazard_counts(day, include_submitted)
    assert summary["devices"] == world.devices(day, include_submitted)
    assert_identities(summary, list(rows.values()))


# --- a scenario on the Khojavend / Fuzuli border ------------------------------------------

DAYS = [D(2020, 1, 1), D(2021, 4, 15), D(2021, 8, 1), D(2021, 10, 1), D(2022, 6, 1),
        D(2024, 1, 1)]


def scenario(conn) -> World:
    """Overlapping hazards and releases across districts, grid lines and review states.

    The grid lines x = 47.20 and y = 39.70 cross here; the Khojavend/Fuzuli border runs at
    about y = 39.687; Aghdam (north of Khojavend) is not loaded, so land there is outside.
    """
    world = World(load_districts(conn, ("Khojavend", "Fuzuli")))
    hazard = lambda *a, **k: add_hazard(conn, world, *a, **k)  # noqa: E731
    release = lambda *a, **k: add_release(conn, world, *a, **k)  # noqa: E731
    hazard(rect(47.180, 39.705, 1000, 800), D(2021, 3, 1))  # across y = 39.70
    hazard(rect(47.186, 39.707, 900, 900, 20), D(2021, 6, 1))  # overlaps the first
    hazard(rect(47.190, 39.687, 600, 600), D(2022, 1, 1))  # across the district border
    hazard(rect(47.170, 39.712, 500, 500), D(2021, 5, 1), review="submitted")
    hazard(rect(47.200, 39.700, 700, 700), D(2021, 2, 1), review="rejected")
    hazard(rect(47.176, 39.703, 400, 400), D(2021, 2, 1), deleted=True)
    hazard(rect(47.200, 39.700, 600, 600, 10), D(2020, 5, 5))  # on a grid corner
    hazard(rect(47.0037, 39.883, 800, 800), D(2021, 1, 10))  # half in Aghdam: outside
    # Same day, overlapping: the lower id (cleared) wins the overlap; an earlier one beats both.
    release(rect(47.182, 39.705, 600, 600), D(2021, 9, 1), "cleared", ap_mines=3)
    release(rect(47.186, 39.705, 600, 600), D(2021, 9, 1), "cancelled", uxo=2)
    release(rect(47.184, 39.702, 300, 300), D(2021, 7, 1), "reduced", at_mines=1)
    release(rect(47.160, 39.720, 300, 300), D(2022, 2, 2), "cleared", cmr=4)  # no hazard
    release(rect(47.190, 39.687, 800, 800), D(2023, 1, 1), "reduced", ied=1)  # all of one
    release(rect(47.176, 39.708, 400, 400), D(2022, 5, 5), "cleared", review="submitted",
            ap_mines=7)
    release(rect(47.180, 39.705, 1500, 1500), D(2021, 8, 1), "cancelled", review="rejected")
    release(rect(47.200, 39.700, 2000, 2000), D(2021, 8, 1), "cleared", deleted=True, uxo=9)
    # Completed before the hazard under it was recorded: outside at first, released after.
    release(rect(47.1905, 39.709, 300, 300), D(2021, 4, 1), "cancelled")
    release(rect(47.200, 39.700, 900, 900, 5), D(2022, 3, 3), "cleared")  # closes a hazard
    release(rect(47.195, 39.686, 400, 400), D(2022, 8, 8), "cancelled")  # half outside hazards
    release(rect(47.0037, 39.883, 400, 400), D(2021, 11, 1), "reduced")  # across to Aghdam
    return world


@pytest.fixture
def world(engine):
    with engine.begin() as conn:
        built = scenario(conn)
        accounting.refresh(conn)  # as every writer does before it commits
    return built


@pytest.mark.parametrize("include_submitted", [False, True])
@pytest.mark.parametrize("day", DAYS)
def test_reports_equal_the_independent_computation(engine, world, day, include_submitted):
    with engine.begin() as conn:
        check_reports(conn, world, day, include_submitted)


def test_nothing_is_mapped_before_the_first_survey(engine, world):
    with engine.begin() as conn:
        summary = accounting.summary(conn, as_of=D(2019, 1, 1), baseline_km2=100.0,
                                     baseline_date=D(2021, 1, 1))
        rows = accounting.districts(conn, as_of=D(2019, 1, 1), baseline_km2=100.0,
                                    baseline_date=D(2021, 1, 1))
    assert rows == []
    assert all(summary[k] == 0 for k in AREA_KEYS)
    assert summary["hazards_active"] == summary["hazards_closed"] == 0
    assert summary["projected_completion"] is None


def test_hazard_remaining_is_its_area_minus_counted_releases(engine, world):
    with engine.begin() as conn:
        accounting.refresh(conn)
        stored = dict(conn.execute(text("SELECT id, remaining_m2 FROM hazards")).all())
    for h in world.hazards:
        if h.deleted or h.review == "rejected":
            assert stored[h.id] is None
        else:
            assert close(stored[h.id], world.hazard_remaining(h)), h
    closed = [h for h in world.hazards if stored[h.id] is not None and stored[h.id] < 1]
    assert len(closed) == 2  # the one under a grid corner and the one across the border


def test_land_outside_every_district_counts_nationally_in_its_own_row(engine, world):
    outside = world.hazards[-1]
    kwargs = dict(as_of=D(2021, 2, 1), baseline_km2=1, baseline_date=D(2021, 1, 1))
    with engine.begin() as conn:
        accounting.refresh(conn)
        parts = conn.execute(text(
            "SELECT district_id IS NULL AS outside, sum(area_m2) FROM pieces"
            " WHERE :id = ANY(hazard_ids) GROUP BY 1"), {"id": outside.id}).all()
        rows = {r["district"]: r for r in accounting.districts(conn, **kwargs)}
        summary = accounting.summary(conn, **kwargs)
    row = rows["Khojavend"]
    country = union([g for _, g in world.districts.values()])
    beyond = area(outside.geom.difference(country))
    assert close(dict(parts)[True], beyond)
    assert beyond > 1e5
    assert close(rows[OUTSIDE]["mapped_m2"], beyond)
    assert close(summary["mapped_m2"], area(world.hazard_land(D(2021, 2, 1))))
    assert summary["mapped_m2"] == sum(r["mapped_m2"] for r in rows.values())
    assert list(rows)[-1] == OUTSIDE
    # By then Khojavend holds the hazard on the grid corner and the inner part of this one.
    corner = world.hazards[-2]
    assert close(row["mapped_m2"], area(corner.geom) + area(outside.geom.intersection(country)))


def check_timeseries(conn, world: World, start, end, interval, include_submitted=False) -> list:
    """Compare every period of the time series with the world's own figures."""
    periods = accounting.timeseries(conn, start=start, end=end, interval=interval,
                                    baseline_km2=100.0, baseline_date=D(2021, 1, 1),
                                    include_submitted=include_submitted)
    assert periods[0]["period"] == start and periods[-1]["period_end"] == end
    country = EVERYWHERE  # national figures: land in no district counts too
    for p in periods:
        first, last = p["period"], p["period_end"]
        at_end = world.figures(country, last, include_submitted)
        assert close(p["mapped_m2"], at_end["mapped_m2"])
        assert close(p["released_cumulative_m2"], at_end["released_m2"])
        assert close(p["remaining_m2"], at_end["remaining_m2"])
        # Land in hazards recorded by the period's end, first released within the period.
        hazard_land = country.intersection(world.hazard_land(last, include_submitted))
        seen = union([r.geom for r in world.releases_by(first - dt.timedelta(days=1),
                                                         include_submitted)])
        by_method = dict.fromkeys(METHODS, 0.0)
        for r in world.releases_by(last, include_submitted):
            if r.day >= first:
                by_method[r.method] += area(hazard_land.intersection(r.geom.difference(seen)))
            seen = seen.union(r.geom)
        for method in METHODS:
            assert close(p[f"{method}_m2"], by_method[method]), (p, method)
        assert close(p["released_m2"], sum(by_method.values()))
    return periods


@pytest.mark.parametrize(("interval", "count"), [("month", 20), ("year", 2)])
def test_timeseries_equals_the_independent_computation(engine, world, interval, count):
    with engine.begin() as conn:
        periods = check_timeseries(conn, world, D(2021, 2, 15), D(2022, 9, 30), interval)
    assert len(periods) == count


def test_baselines_come_from_the_table_when_there_is_one(engine, world):
    day = D(2024, 1, 1)
    with engine.begin() as conn:
        khojavend = conn.execute(text("SELECT id FROM districts WHERE name = 'Khojavend'")).scalar()
        conn.execute(text(
            "INSERT INTO baselines (label, as_of, area_km2, district_id) VALUES"
            " ('national', DATE '2021-06-30', 50, NULL), ('later', DATE '2025-01-01', 70, NULL),"
            " ('Khojavend', DATE '2021-08-15', 2.5, :k)"), {"k": khojavend})
        summary = accounting.summary(conn, as_of=day, baseline_km2=100.0,
                                     baseline_date=D(2021, 1, 1))
        rows = {r["district"]: r for r in accounting.districts(
            conn, as_of=day, baseline_km2=100.0, baseline_date=D(2021, 1, 1))}
        fallback = accounting.summary(conn, as_of=D(2021, 5, 1), baseline_km2=100.0,
                                      baseline_date=D(2021, 1, 1))
    want = world.figures(EVERYWHERE, day, since=D(2021, 6, 30))
    assert summary["baseline_km2"] == 50 and summary["baseline_date"] == D(2021, 6, 30)
    check_baseline(summary, want, 50, day)
    assert fallback["baseline_km2"] == 100 and fallback["baseline_date"] == D(2021, 1, 1)

    want = world.figures(world.districts["Khojavend"][1], day, since=D(2021, 8, 15))
    assert rows["Khojavend"]["baseline_date"] == D(2021, 8, 15)
    check_baseline(rows["Khojavend"], want, 2.5, day)
    assert rows["Fuzuli"]["baseline_km2"] is None
    assert rows["Fuzuli"]["progress"] is None and rows["Fuzuli"]["projected_completion"] is None


def check_baseline(row: dict, want: dict, baseline_km2: float, day: dt.date) -> None:
    assert want["since"] > 0
    assert close(row["released_since_baseline_m2"], want["since"])
    assert row["baseline_remaining_km2"] == pytest.approx(baseline_km2 - want["since"] / 1e6,
                                                          rel=1e-6, abs=1e-6)
    assert row["progress"] == pytest.approx(want["since"] / (baseline_km2 * 1e6), rel=1e-6,
                                            abs=2 / (baseline_km2 * 1e6))  # whole m²
    per_day = want["last_year"] / (day - day.replace(year=day.year - 1)).days
    if want["last_year"] > 1:
        days = row["baseline_remaining_km2"] * 1e6 / per_day
        assert row["projected_completion"] == day + dt.timedelta(days=math.ceil(days))
    else:
        assert row["projected_completion"] is None


def test_the_burn_down_is_the_baseline_in_force_at_each_period_end(engine, world):
    # A baseline stored from mid-2021 replaces the configured one from then on.
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO baselines (label, as_of, area_km2, district_id)"
                          " VALUES ('national', DATE '2021-06-30', 50, NULL)"))
        periods = accounting.timeseries(conn, start=D(2021, 1, 1), end=D(2023, 3, 31),
                                        interval="month", baseline_km2=100.0,
                                        baseline_date=D(2021, 1, 1))
        summaries = [accounting.summary(conn, as_of=p["period_end"], baseline_km2=100.0,
                                        baseline_date=D(2021, 1, 1)) for p in periods]
    assert len(periods) == 27
    fields = ("baseline_km2", "baseline_date", "released_since_baseline_m2",
              "baseline_remaining_km2", "progress", "projected_completion")
    for period, summary in zip(periods, summaries):
        assert {k: period[k] for k in fields} == {k: summary[k] for k in fields}, period
    # Against the world's own shapes, before and after the stored baseline takes over.
    for period in periods:
        day = period["period_end"]
        since, km2 = (D(2021, 1, 1), 100) if day < D(2021, 6, 30) else (D(2021, 6, 30), 50)
        assert period["baseline_km2"] == km2 and period["baseline_date"] == since
        want = world.figures(EVERYWHERE, day, since=since)
        if want["since"] > 0:
            check_baseline(period, want, km2, day)
        else:
            assert period["released_since_baseline_m2"] == 0
            assert period["baseline_remaining_km2"] == km2
    assert any(p["projected_completion"] for p in periods)


def test_projection_needs_releases_in_the_last_twelve_months(engine, world):
    with engine.begin() as conn:
        late = accounting.summary(conn, as_of=D(2024, 6, 1), baseline_km2=100.0,
                                  baseline_date=D(2021, 1, 1))
        recent = accounting.summary(conn, as_of=D(2022, 6, 1), baseline_km2=100.0,
                                    baseline_date=D(2021, 1, 1))
    assert late["projected_completion"] is None  # nothing released since mid-2023
    assert recent["projected_completion"] > D(2022, 6, 1)
    assert 0 < recent["progress"] < 1


def snapshot(conn) -> dict:
    """Everything accounting derives, at every scenario day and for both views."""
    reports = {}
    for day, submitted in itertools.product(DAYS, (False, True)):
        kwargs = dict(as_of=day, baseline_km2=100.0, baseline_date=D(2021, 1, 1),
                      include_submitted=submitted)
        reports[day, submitted] = (accounting.summary(conn, **kwargs),
                                   accounting.districts(conn, **kwargs))
    hazards = conn.execute(text(
        "SELECT h.id, h.remaining_m2, a.district_id, a.closed_on, a.closed_on_all"
        " FROM hazards AS h LEFT JOIN hazard_accounting AS a ON a.hazard_id = h.id"
        " ORDER BY h.id")).all()
    return {"reports": reports, "hazards": hazards}


def same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return close(a, b, 1e-9, 1e-6)
    return a == b


def test_incremental_refresh_equals_rebuild_after_every_kind_of_write(engine, world):
    hazards, releases = world.hazards, world.releases
    writes = [
        ("insert a hazard", lambda conn: add_hazard(
            conn, world, rect(47.183, 39.699, 700, 300, 30), D(2021, 7, 7))),
        ("move a release", lambda conn: move(conn, world, releases[0],
                                             rect(47.179, 39.701, 600, 600))),
        ("approve a submitted hazard", lambda conn: review(conn, hazards[3], "approved")),
        ("reject a release", lambda conn: review(conn, releases[2], "rejected", "releases")),
        ("delete a hazard", lambda conn: soft_delete(conn, hazards[1], "hazards")),
        ("change a survey date", lambda conn: redate(conn, hazards[0], D(2021, 9, 15))),
        ("remove a release", lambda conn: remove(conn, world, releases[3])),
    ]
    for what, write in writes:
        with engine.begin() as conn:
            write(conn)
            assert conn.execute(text("SELECT count(*) FROM dirty_cells")).scalar() > 0, what
            accounting.refresh(conn)
            incremental = snapshot(conn)
            accounting.rebuild(conn)
            assert same(incremental, snapshot(conn)), what
            for day in (D(2021, 10, 1), D(2024, 1, 1)):
                check_reports(conn, world, day)


def move(conn, world, record, geom) -> None:
    conn.execute(text("UPDATE releases SET geom = ST_Multi(ST_GeomFromWKB(:wkb, 4326))"
                      " WHERE id = :id"), {"wkb": shapely.to_wkb(geom), "id": record.id})
    record.geom = geom


def review(conn, record, decision, table="hazards") -> None:
    conn.execute(text(f"UPDATE {table} SET review = CAST(:r AS review_state) WHERE id = :id"),
                 {"r": decision, "id": record.id})
    record.review = decision


def soft_delete(conn, record, table) -> None:
    conn.execute(text(f"UPDATE {table} SET deleted_at = now() WHERE id = :id"), {"id": record.id})
    record.deleted = True


def redate(conn, record, day) -> None:
    conn.execute(text("UPDATE hazards SET recorded_on = :d WHERE id = :id"),
                 {"d": day, "id": record.id})
    record.day = day


def remove(conn, world, record) -> None:
    conn.execute(text("DELETE FROM releases WHERE id = :id"), {"id": record.id})
    world.releases.remove(record)


def test_writes_that_change_no_figure_mark_nothing(engine, world):
    with engine.begin() as conn:
        accounting.refresh(conn)
        conn.execute(text("UPDATE hazards SET description = 'seen again', version = version + 1"))
        conn.execute(text("UPDATE releases SET land_use = 'agriculture', ap_mines = ap_mines"))
        assert conn.execute(text("SELECT count(*) FROM dirty_cells")).scalar() == 0
        assert accounting.refresh(conn) == 0


def test_refresh_recomputes_only_the_cells_a_write_touched(engine, world):
    with engine.begin() as conn:
        accounting.refresh(conn)
        add_release(conn, world, rect(47.1805, 39.705, 100, 100), D(2022, 1, 1), "cleared")
        assert accounting.refresh(conn) == 1
        add_release(conn, world, rect(47.200, 39.700, 100, 100), D(2022, 1, 1), "cleared")
        assert accounting.refresh(conn) == 4  # on a grid corner
        check_reports(conn, world, D(2024, 1, 1))


def test_timeseries_refuses_an_unknown_interval(engine):
    from minemap.errors import InvalidInput

    with engine.begin() as conn, pytest.raises(InvalidInput):
        accounting.timeseries(conn, start=D(2021, 1, 1), end=D(2021, 2, 1), interval="week",
                              baseline_km2=100.0, baseline_date=D(2021, 1, 1))


def test_concurrent_refreshes_of_the_same_cells_run_one_after_the_other(engine, world):
    """A report's refresh while another transaction's refresh of the same cells is uncommitted."""
    with engine.begin() as conn:  # a write whose transaction did not refresh
        add_release(conn, world, rect(47.181, 39.705, 200, 200), D(2022, 1, 1), "cleared")
    first_refreshed, times, errors = threading.Event(), {}, []

    def refresh(name, wait: threading.Event | None):
        try:
            with engine.begin() as conn:
                if wait is not None:
                    wait.wait(10)
                accounting.refresh(conn)
                times[name, "refreshed"] = time.monotonic()
                if wait is None:
                    first_refreshed.set()
                    time.sleep(0.5)  # still uncommitted while the other one refreshes
            times[name, "committed"] = time.monotonic()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=refresh, args=("first", None)),
               threading.Thread(target=refresh, args=("second", first_refreshed))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert times["second", "refreshed"] >= times["first", "committed"]
    with engine.begin() as conn:
        incremental = snapshot(conn)
        accounting.rebuild(conn)
        assert same(incremental, snapshot(conn))
        check_reports(conn, world, D(2024, 1, 1))
