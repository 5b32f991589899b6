"""Feature checks: every problem code fires on bad input and stays quiet on its valid twin."""

import copy
import datetime as dt
import functools
import json
import math
from pathlib import Path

import numpy as np
import pyproj
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Point, Polygon, shape

from minemap.geo import check_feature, check_features, geodesic_area, parse_date, parse_list
from minemap.geo.checks import check_geometry
from minemap.geo.outline import outline_of
from minemap.vocab import Classification, HazardType, LandUse, ReleaseMethod

TODAY = dt.date(2025, 6, 1)
WGS84 = pyproj.Geod(ellps="WGS84")  # our own, for independent areas and distances
COUNTRY_FILE = Path(__file__).parents[1] / "data" / "districts" / "azerbaijan_country.geojson"
DISTRICTS_FILE = COUNTRY_FILE.with_name("azerbaijan_districts.geojson")
TOLERANCE_M = 5000.0
# What store.districts.outline builds from the loaded units: here, all the bundled ones.
OUTLINE = outline_of([shape(f["geometry"]) for f in
                      json.loads(DISTRICTS_FILE.read_text())["features"]], TOLERANCE_M)
LON, LAT = 47.5, 40.5  # Yevlakh area, far from any border


def square(lon=LON, lat=LAT, size=0.01, clockwise=False):
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring[::-1] if clockwise else ring]}


def hazard(geometry=None, **properties):
    base = {"code": "AZ-TEST-1", "classification": "SHA", "hazard_types": ["AP"],
            "organisation": "ANAMA", "recorded_on": "2024-03-01", "description": "test"}
    return {"type": "Feature", "geometry": square() if geometry is None else geometry,
            "properties": {**base, **properties}}


def release(geometry=None, **properties):
    base = {"code": "REL-1", "method": "cleared", "hazard": "AZ-TEST-1", "organisation": "ANAMA",
            "started_on": "2024-01-10", "completed_on": "2024-02-20", "land_use": "agriculture"}
    return {"type": "Feature", "geometry": square() if geometry is None else geometry,
            "properties": {**base, **properties}}


def codes(checked):
    return [problem.code for problem in checked.problems]


def check(feature, kind="hazards", outline=OUTLINE, **kwargs):
    return check_feature(kind, 7, feature, today=TODAY, outline=outline, **kwargs)


def as_read(features):
    """Copies of `features` as geo.read gives them to check_features: shapely geometries."""
    return [{**f, "geometry": shape(f["geometry"])} for f in copy.deepcopy(features)]


def independent_area(geom) -> float:
    """Geodesic area from pyproj alone: |exterior| − |holes| per polygon."""
    total = 0.0
    for polygon in getattr(geom, "geoms", [geom]):
        total += abs(WGS84.polygon_area_perimeter(*polygon.exterior.xy)[0])
        total -= sum(abs(WGS84.polygon_area_perimeter(*ring.xy)[0]) for ring in polygon.interiors)
    return total


# --- valid features and normalisation -------------------------------------------------------

def test_valid_hazard_is_normalised():
    checked = check(hazard(classification="cha", hazard_types="uxo, AP;ap"))
    assert checked.problems == [] and checked.warnings == []
    record = checked.record
    assert record["classification"] is Classification.CHA
    assert record["hazard_types"] == [HazardType.AP, HazardType.UXO]
    assert record["recorded_on"] == dt.date(2024, 3, 1)
    assert record["code"] == "AZ-TEST-1" and record["organisation"] == "ANAMA"
    assert isinstance(record["geometry"], MultiPolygon)
    assert record["geometry"].equals(shape(square()))


def test_valid_release_is_normalised():
    feature = release(land_use="WATER", ap_mines="12", uxo=3.0)
    del feature["properties"]["method"]
    feature["properties"]["METHOD"] = "Reduced"
    checked = check(feature, "releases")
    assert checked.problems == []
    record = checked.record
    assert record["method"] is ReleaseMethod.reduced and record["land_use"] is LandUse.water
    assert (record["ap_mines"], record["at_mines"], record["uxo"], record["cmr"], record["ied"]) \
        == (12, 0, 3, 0, 0)
    assert all(type(record[name]) is int for name in ("ap_mines", "uxo", "ied"))
    assert record["started_on"] == dt.date(2024, 1, 10)
    assert record["completed_on"] == dt.date(2024, 2, 20)
    assert record["hazard"] == "AZ-TEST-1"


def test_release_devices_may_come_nested_and_hazard_may_be_null():
    feature = release(hazard=None, devices={"AT_mines": 2, "ied": "1"})
    record = check(feature, "releases").record
    assert record["hazard"] is None and record["at_mines"] == 2 and record["ied"] == 1


def test_property_names_are_case_insensitive_and_shapefile_truncations_accepted():
    properties = {"CLASSIFICA": "SHA", "Hazard_Types": "AT", "RECORDED_O": "2024-01-02",
                  "Organisati": "HALO", "DESCRIPTIO": "cut by the shapefile"}
    record = check({"type": "Feature", "geometry": square(), "properties": properties}).record
    assert record["classification"] is Classification.SHA
    assert record["recorded_on"] == dt.date(2024, 1, 2)
    assert record["organisation"] == "HALO" and record["description"] == "cut by the shapefile"


@pytest.mark.parametrize("name", ["RECORDED_ON", "Recorded_On", " recorded_on "])
def test_recorded_on_spelt_in_any_case(name):
    feature = hazard()
    del feature["properties"]["recorded_on"]
    feature["properties"][name] = "2023-12-31"
    assert check(feature).record["recorded_on"] == dt.date(2023, 12, 31)


@pytest.mark.parametrize("value", ["AP,AT", "ap; at", "AT AP", '["AP", "at"]', ["at", "AP", "AP"],
                                   ("AP", "AT")])
def test_hazard_types_accept_lists_and_separated_text(value):
    assert check(hazard(hazard_types=value)).record["hazard_types"] == [HazardType.AP,
                                                                        HazardType.AT]


def test_empty_strings_count_as_absent():
    checked = check(hazard(code="", organisation="  ", description=""))
    assert checked.problems == []
    assert checked.record["code"] is None and checked.record["organisation"] is None
    assert codes(check(hazard(classification=""))) == ["missing_property"]
    assert codes(check(hazard(recorded_on=float("nan")))) == ["missing_property"]


def test_dates_accept_datetimes_and_date_objects():
    assert check(hazard(recorded_on="2024-03-01T23:30:00+04:00")).record["recorded_on"] \
        == dt.date(2024, 3, 1)
    assert check(hazard(recorded_on="2024-03-01T10:00:00Z")).record["recorded_on"] \
        == dt.date(2024, 3, 1)
    assert check(hazard(recorded_on=dt.datetime(2024, 3, 1, 8))).record["recorded_on"] \
        == dt.date(2024, 3, 1)
    assert parse_date(np.datetime64("2024-03-01")) == dt.date(2024, 3, 1)
    assert parse_list("AP, AT") == ["AP", "AT"]


def test_unknown_properties_are_ignored_with_a_warning():
    checked = check(hazard(OBJECTID=4, Shape_Area=12.5))
    assert checked.problems == []
    assert "objectid" not in checked.record
    assert sorted(w.code for w in checked.warnings) == ["unknown_property"] * 2
    assert any("'OBJECTID'" in w.reason for w in checked.warnings)


def test_a_clockwise_polygon_comes_out_counter_clockwise_with_clockwise_holes():
    outer = [[LON, LAT], [LON, LAT + 0.02], [LON + 0.02, LAT + 0.02], [LON + 0.02, LAT], [LON, LAT]]
    hole = [[LON + 0.005, LAT + 0.005], [LON + 0.01, LAT + 0.005], [LON + 0.01, LAT + 0.01],
            [LON + 0.005, LAT + 0.005]]
    assert not shapely.LinearRing(outer).is_ccw and shapely.LinearRing(hole).is_ccw
    geom = check(hazard({"type": "Polygon", "coordinates": [outer, hole]})).record["geometry"]
    polygon = geom.geoms[0]
    assert polygon.exterior.is_ccw and not polygon.interiors[0].is_ccw
    assert math.isclose(geodesic_area(geom), independent_area(Polygon(outer, [hole])),
                        rel_tol=1e-12)


def test_z_coordinates_are_dropped():
    ring = [[LON, LAT, 10], [LON + 0.01, LAT, 11], [LON + 0.01, LAT + 0.01, 12], [LON, LAT, 10]]
    from_dict = check(hazard({"type": "Polygon", "coordinates": [ring]})).record["geometry"]
    from_shapely = check(hazard(Polygon(ring))).record["geometry"]
    for geom in (from_dict, from_shapely):
        assert not geom.has_z and " Z" not in geom.wkt
        assert sorted(map(tuple, shapely.get_coordinates(geom).tolist())) \
            == sorted(tuple(position[:2]) for position in ring)


def test_multipolygons_and_collections_of_polygons_are_accepted():
    a, b = square(), square(LON + 0.1)
    multi = {"type": "MultiPolygon", "coordinates": [a["coordinates"], b["coordinates"]]}
    assert len(check(hazard(multi)).record["geometry"].geoms) == 2
    collection = {"type": "GeometryCollection", "geometries": [a, b]}
    assert len(check(hazard(collection)).record["geometry"].geoms) == 2


def test_partial_checks_only_what_is_given():
    checked = check({"type": "Feature", "properties": {"Description": "resurveyed"}},
                    partial=True)
    assert checked.problems == [] and checked.record == {"description": "resurveyed"}
    assert codes(check({"type": "Feature", "geometry": None,
                        "properties": {"classification": ""}}, partial=True)) \
        == ["missing_property"]
    with_geometry = check({"type": "Feature", "geometry": square(clockwise=True),
                           "properties": {}}, partial=True)
    assert set(with_geometry.record) == {"geometry"}
    assert with_geometry.record["geometry"].geoms[0].exterior.is_ccw


# --- properties: one bad value per code, next to its valid twin -----------------------------

@pytest.mark.parametrize(("bad", "good", "code", "said"), [
    ({"classification": "XYZ"}, {"classification": "sha"}, "invalid_enum",
     "classification 'XYZ' is not one of SHA, CHA"),
    ({"hazard_types": "AP, mines"}, {"hazard_types": "AP, axo"}, "invalid_enum",
     "hazard_types 'mines' is not one of AP, AT, UXO, AXO, CMR, IED"),
    ({"hazard_types": []}, {"hazard_types": ["CMR"]}, "missing_property", "hazard_types"),
    ({"classification": None}, {"classification": "CHA"}, "missing_property",
     "classification is required"),
    ({"recorded_on": "2031-02-01"}, {"recorded_on": "2025-06-01"}, "future_date",
     "recorded_on 2031-02-01 is in the future"),
    ({"recorded_on": "01/02/2024"}, {"recorded_on": "2024-02-01"}, "invalid_date",
     "recorded_on '01/02/2024' is not a date"),
    ({"recorded_on": "2024-02-30"}, {"recorded_on": "2024-02-29"}, "invalid_date",
     "recorded_on '2024-02-30' is not a valid date"),
    ({"code": "AZ 1"}, {"code": "AZ_1/b.2-x"}, "invalid_code", "code 'AZ 1'"),
    ({"code": "A" * 65}, {"code": "A" * 64}, "invalid_code", "longer than 64"),
    ({"description": "x" * 2001}, {"description": "x" * 2000}, "too_long",
     "description is 2,001 characters long"),
    ({"organisation": ["ANAMA"]}, {"organisation": "ANAMA"}, "invalid_value", "organisation"),
])
def test_hazard_property_problems(bad, good, code, said):
    checked = check(hazard(**bad))
    assert codes(checked) == [code] and checked.record is None
    assert said in checked.problems[0].reason
    assert checked.problems[0].index == 7
    assert check(hazard(**good)).problems == []


@pytest.mark.parametrize(("bad", "good", "code", "said"), [
    ({"method": "demined"}, {"method": "CLEARED"}, "invalid_enum",
     "method 'demined' is not one of cancelled, reduced, cleared"),
    ({"method": ""}, {"method": "cancelled"}, "missing_property", "method is required"),
    ({"land_use": "farming"}, {"land_use": "Agriculture"}, "invalid_enum", "land_use 'farming'"),
    ({"completed_on": "2025-06-02"}, {"completed_on": "2025-06-01"}, "future_date",
     "completed_on 2025-06-02 is in the future"),
    ({"completed_on": "2024-01-09"}, {"completed_on": "2024-01-10"}, "completed_before_started",
     "completed_on 2024-01-09 is before started_on 2024-01-10"),
    ({"completed_on": None}, {"started_on": None}, "missing_property", "completed_on"),
    ({"uxo": -3}, {"uxo": 0}, "invalid_count", "uxo -3 is negative"),
    ({"cmr": 2.5}, {"cmr": "2.0"}, "invalid_count", "cmr 2.5 is not a whole number"),
    ({"ied": "many"}, {"ied": " 7 "}, "invalid_count", "ied 'many'"),
    ({"at_mines": True}, {"at_mines": 1}, "invalid_count", "at_mines True"),
    ({"hazard": "no such code!"}, {"hazard": "AZ-AGD-SHA-12"}, "invalid_code", "hazard"),
])
def test_release_property_problems(bad, good, code, said):
    checked = check(release(**bad), "releases")
    assert codes(checked) == [code]
    assert said in checked.problems[0].reason
    assert check(release(**good), "releases").problems == []


def test_a_property_given_twice_is_a_problem():
    assert codes(check(hazard(CODE="other"))) == ["duplicate_property"]


def test_not_a_feature():
    assert codes(check(["not", "a", "feature"])) == ["invalid_feature"]
    assert codes(check(square())) == ["invalid_feature"]


def test_all_problems_of_one_feature_are_collected():
    feature = hazard({"type": "Polygon", "coordinates": [[[60, 47], [60.01, 47], [60.01, 47.01],
                                                          [60, 47]]]},
                     classification="XYZ", hazard_types="", recorded_on="2031-02-01", code="a b")
    assert sorted(codes(check(feature))) == sorted(
        ["invalid_enum", "missing_property", "future_date", "invalid_code", "outside_azerbaijan"])
    bowtie_abroad = hazard({"type": "Polygon", "coordinates": [[[60, 47], [60.1, 47.1],
                                                                [60.1, 47], [60, 47.1], [60, 47]]]})
    assert sorted(codes(check(bowtie_abroad))) == ["outside_azerbaijan", "self_intersection"]


# --- geometry -------------------------------------------------------------------------------

@pytest.mark.parametrize(("geometry", "code", "said"), [
    ({"type": "Point", "coordinates": [LON, LAT]}, "not_polygon",
     "geometry is a Point, not a Polygon or MultiPolygon"),
    ({"type": "LineString", "coordinates": [[LON, LAT], [LON + 1, LAT]]}, "not_polygon",
     "geometry is a LineString"),
    (Point(LON, LAT), "not_polygon", "geometry is a Point"),
    (shapely.MultiPoint([(LON, LAT), (LON, LAT + 1)]), "not_polygon", "geometry is a MultiPoint"),
    (shapely.GeometryCollection([shape(square()), Point(LON, LAT)]), "not_polygon",
     "GeometryCollection holding a Point"),
    ({"type": "GeometryCollection", "geometries": [square(), {"type": "Point",
                                                              "coordinates": [LON, LAT]}]},
     "not_polygon", "GeometryCollection holding a Point"),
    ({"type": "Polygon", "coordinates": []}, "empty_geometry", "geometry is empty"),
    ({"type": "MultiPolygon", "coordinates": []}, "empty_geometry", "geometry is empty"),
    (Polygon(), "empty_geometry", "geometry is empty"),
    ({"type": "Polygon", "coordinates": [[[LON, LAT], [LON + 0.01, LAT], [LON, LAT]]]},
     "too_few_points", "has 3 points, fewer than 4"),
    ({"type": "Polygon", "coordinates": [[[LON, LAT], [LON + 0.01, LAT], [math.nan, LAT + 0.01],
                                          [LON, LAT]]]}, "non_finite_coordinates", "not finite"),
    (Polygon([(LON, LAT), (LON + 0.01, LAT), (math.inf, LAT + 0.01)]), "non_finite_coordinates",
     "not finite"),
    ({"type": "Polygon", "coordinates": [["a", "b"]]}, "invalid_geometry", "ring 1"),
    ({"type": "Circle", "coordinates": [LON, LAT]}, "invalid_geometry", "'Circle'"),
])
def test_geometry_problems(geometry, code, said):
    checked = check(hazard(geometry))
    assert codes(checked) == [code]
    assert said in checked.problems[0].reason


@pytest.mark.parametrize(("ring", "code"), [
    ([[LON, LAT]] * 4, "too_few_points"),  # four positions, one point
    ([[LON, LAT], [LON + 0.1, LAT], [LON + 0.2, LAT], [LON, LAT]], "self_intersection"),
])
def test_rings_without_area_are_rejected(ring, code):
    checked = check(hazard({"type": "Polygon", "coordinates": [ring]}))
    assert codes(checked) == [code]
    assert "repairing it leaves no area" in checked.problems[0].reason


def test_a_hole_outside_its_shell_is_not_valid():
    hole = [[LON + 0.2, LAT + 0.2], [LON + 0.3, LAT + 0.2], [LON + 0.3, LAT + 0.3],
            [LON + 0.2, LAT + 0.2]]
    geometry = {"type": "Polygon", "coordinates": [square()["coordinates"][0], hole]}
    checked = check(hazard(geometry))
    assert codes(checked) == ["invalid_geometry"]
    assert "hole lies outside shell" in checked.problems[0].reason


def test_missing_geometry():
    feature = hazard()
    feature["geometry"] = None
    assert codes(check(feature)) == ["missing_geometry"]
    del feature["geometry"]
    assert codes(check(feature)) == ["missing_geometry"]
    assert check(hazard()).problems == []


def circle(points: int, lon=LON, lat=LAT, radius=0.01) -> dict:
    angles = np.linspace(0, 2 * np.pi, points, endpoint=False)
    ring = np.column_stack([lon + radius * np.cos(angles), lat + radius * np.sin(angles)])
    return {"type": "Polygon", "coordinates": [np.vstack([ring, ring[:1]]).tolist()]}


def test_too_many_vertices():
    over, limit = circle(100_000), circle(99_999)  # + the closing position: 100,001 and 100,000
    assert len(over["coordinates"][0]) == 100_001
    checked = check(hazard(over))
    assert codes(checked) == ["too_many_vertices"]
    assert "100,001 vertices, more than 100,000" in checked.problems[0].reason
    assert check(hazard(limit)).problems == []
    _, problems, _ = check_features("hazards", as_read([hazard(over, code="A"),
                                                        hazard(limit, code="B")]),
                                    today=TODAY, outline=OUTLINE)
    assert [(p.index, p.code) for p in problems] == [(0, "too_many_vertices")]


def test_latitude_and_longitude_swapped():
    swapped = {"type": "Polygon", "coordinates": [[[y, x] for x, y in square()["coordinates"][0]]]}
    checked = check(hazard(swapped))
    assert codes(checked) == ["lat_lon_swapped"]
    assert "latitude/longitude swapped (lat 47.5" in checked.problems[0].reason
    assert check(hazard(square())).problems == []


def test_far_away_is_outside_azerbaijan():
    checked = check(hazard(square(37.6, 55.7)))  # Moscow
    assert codes(checked) == ["outside_azerbaijan"]
    assert "more than 5,000 m beyond the border of the loaded districts" in \
        checked.problems[0].reason


def test_an_edge_across_armenia_is_outside_even_with_every_vertex_inside():
    # Nakhchivan to the mainland: both ends in Azerbaijan, the triangle crosses Syunik.
    ends = [[45.4, 39.2], [46.9, 39.7], [46.9, 39.71], [45.4, 39.2]]
    checked = check(hazard({"type": "Polygon", "coordinates": [ends]}))
    assert codes(checked) == ["outside_azerbaijan"]
    reason = checked.problems[0].reason
    lon, lat = (float(part.split()[1]) for part in reason.split("(at ")[1].rstrip(")").split(", "))
    assert 45.5 < lon < 46.8  # named where it leaves the country, not at a vertex


@functools.cache
def border_walk():
    """Find a border vertex and an azimuth leading straight away from the country.

    Distances are geodesic, to the densified outline: nothing here uses minemap.
    """
    features = json.loads(COUNTRY_FILE.read_text())["features"]
    country = shapely.union_all([shape(f["geometry"]) for f in features])
    outline = shapely.get_coordinates(shapely.segmentize(country.boundary, 0.0001))
    shapely.prepare(country)

    def distance(lon, lat):
        near = outline[(abs(outline[:, 0] - lon) < 0.2) & (abs(outline[:, 1] - lat) < 0.2)]
        _, _, metres = WGS84.inv(np.full(len(near), lon), np.full(len(near), lat),
                                 near[:, 0], near[:, 1])
        return metres.min()

    main = max(country.geoms, key=lambda p: p.area)
    for lon, lat in main.exterior.coords[::25]:
        for azimuth in range(0, 360, 10):
            ends = {d: WGS84.fwd(lon, lat, azimuth, d)[:2] for d in (900, 1200, 5000)}
            if all(not country.contains(Point(*end)) and distance(*end) > d - 60
                   for d, end in ends.items()):
                return lon, lat, azimuth, distance
    raise AssertionError("no straight stretch of border found")


def patch_at(lon, lat, azimuth, metres):
    """A polygon of four points 30 m around the point `metres` away along `azimuth`."""
    cx, cy, _ = WGS84.fwd(lon, lat, azimuth, metres)
    corners = [WGS84.fwd(cx, cy, bearing, 30)[:2] for bearing in (0, 90, 180, 270)]
    return {"type": "Polygon", "coordinates": [[*map(list, corners), list(corners[0])]]}


def test_beyond_the_border_within_the_tolerance_is_accepted_with_a_warning():
    lon, lat, azimuth, distance = border_walk()
    for metres in (900, 4500):
        near = patch_at(lon, lat, azimuth, metres)
        ring = near["coordinates"][0]
        assert all(metres - 100 < distance(*corner) < TOLERANCE_M for corner in ring)
        checked = check(hazard(near))
        assert checked.problems == [] and checked.record is not None, metres
        [warning] = checked.warnings
        assert warning.code == "beyond_border"
        # All of it lies beyond the line: the warning says how much, measured independently.
        stated = float(warning.reason.split(" m²")[0].replace(",", ""))
        assert stated == pytest.approx(geodesic_area(shape(near)), rel=1e-3)
    for metres in (5200, 9000):
        far = patch_at(lon, lat, azimuth, metres)
        assert all(distance(*corner) > TOLERANCE_M + 50 for corner in far["coordinates"][0])
        assert codes(check(hazard(far))) == ["outside_azerbaijan"], metres


def test_the_tolerance_is_the_outlines_own():
    lon, lat, azimuth, _ = border_walk()
    strict = outline_of([shape(f["geometry"]) for f in
                         json.loads(DISTRICTS_FILE.read_text())["features"]], 1000.0)
    near = hazard(patch_at(lon, lat, azimuth, 1500))
    assert codes(check(near)) == []
    checked = check(near, outline=strict)
    assert codes(checked) == ["outside_azerbaijan"]
    assert "more than 1,000 m beyond" in checked.problems[0].reason


def test_a_polygon_inside_the_districts_gets_no_location_warning():
    assert check(hazard(square())).warnings == []


def test_a_bowtie_is_rejected():
    bowtie = {"type": "Polygon", "coordinates": [[[LON, LAT], [LON + 0.1, LAT + 0.1],
                                                  [LON + 0.1, LAT], [LON, LAT + 0.1], [LON, LAT]]]}
    checked = check(hazard(bowtie))
    assert codes(checked) == ["self_intersection"]
    assert "self-intersects at lon 47.55, lat 40.55" in checked.problems[0].reason
    assert "more than 0.1 %" in checked.problems[0].reason
    # An uneven bowtie has an area to compare with: still far more than 0.1 %.
    uneven = {"type": "Polygon", "coordinates": [[[LON, LAT], [LON + 0.1, LAT + 0.1],
                                                  [LON + 0.1, LAT], [LON, LAT + 0.03], [LON, LAT]]]}
    assert codes(check(hazard(uneven))) == ["self_intersection"]


def test_a_tiny_loop_is_repaired_with_a_warning():
    x, y = LON, LAT
    ring = [[x, y], [x + 0.1, y], [x + 0.1, y + 0.1], [x + 0.0505, y + 0.1],
            [x + 0.0495, y + 0.1005], [x + 0.0505, y + 0.1005], [x + 0.0495, y + 0.1],
            [x, y + 0.1], [x, y]]
    assert not Polygon(ring).is_valid
    checked = check(hazard({"type": "Polygon", "coordinates": [ring]}))
    assert checked.problems == []
    assert [w.code for w in checked.warnings] == ["repaired"]
    assert "self-intersects" in checked.warnings[0].reason
    geom = checked.record["geometry"]
    assert geom.is_valid and isinstance(geom, MultiPolygon)
    intended = independent_area(Polygon(shape(square(size=0.1)).exterior))
    assert abs(independent_area(geom) - intended) / intended < 0.001


def test_overlapping_parts_of_a_multipolygon_count_as_self_intersection():
    a, b = square(size=0.02), square(LON + 0.01, size=0.02)
    multi = {"type": "MultiPolygon", "coordinates": [a["coordinates"], b["coordinates"]]}
    assert codes(check(hazard(multi))) == ["self_intersection"]


# --- batches --------------------------------------------------------------------------------

def test_duplicate_codes_within_a_batch_name_both_features():
    features = [hazard(code="H-1"), hazard(square(LON + 0.1), code="H-2"),
                hazard(square(LON + 0.2), code="H-1")]
    records, problems, _ = check_features("hazards", as_read(features), today=TODAY,
                                          outline=OUTLINE)
    assert [(p.index, p.code) for p in problems] == [(2, "duplicate_code")]
    assert "code 'H-1' is used by features 0 and 2" in problems[0].reason
    assert len(records) == 2
    _, problems, _ = check_features("hazards", as_read(features[:2]), today=TODAY,
                                    outline=OUTLINE)
    assert problems == []


@pytest.mark.parametrize("with_z", [False, True])  # a 3D polygon is flattened as a single one
def test_a_batch_agrees_with_single_checks(with_z):
    loop = [[LON, LAT], [LON + 0.1, LAT], [LON + 0.1, LAT + 0.1], [LON + 0.0505, LAT + 0.1],
            [LON + 0.0495, LAT + 0.1005], [LON + 0.0505, LAT + 0.1005], [LON + 0.0495, LAT + 0.1],
            [LON, LAT + 0.1], [LON, LAT]]
    geometries = [square(clockwise=True), Polygon(shape(square(LON + 1)).exterior.coords[::-1]),
                  {"type": "MultiPolygon", "coordinates": [square(LON + 2)["coordinates"],
                                                           square(LON + 2.1)["coordinates"]]},
                  {"type": "Polygon", "coordinates": [loop]}, circle(40, 46.9, 40.1),
                  {"type": "Polygon", "coordinates": [square()["coordinates"][0][:-1]]}]
    if with_z:
        geometries.append({"type": "Polygon",
                           "coordinates": [[c + [5] for c in square()["coordinates"][0]]]})
    features = [hazard(g, code=f"H-{i}") for i, g in enumerate(geometries)]
    records, problems, warnings = check_features("hazards", as_read(features), today=TODAY,
                                                 outline=OUTLINE)
    singles = [check_feature("hazards", i, f, today=TODAY, outline=OUTLINE) for i, f in enumerate(features)]
    assert problems == [] and warnings == [w for s in singles for w in s.warnings]
    for record, single in zip(records, singles, strict=True):
        assert record.keys() == single.record.keys()
        assert shapely.equals_exact(record["geometry"], single.record["geometry"], tolerance=0)
        assert isinstance(record["geometry"], MultiPolygon)
        assert {k: v for k, v in record.items() if k != "geometry"} \
            == {k: v for k, v in single.record.items() if k != "geometry"}


def test_a_batch_locates_features_as_single_checks_do():
    swapped = {"type": "Polygon", "coordinates": [[[y, x] for x, y in square()["coordinates"][0]]]}
    geometries = [swapped, square(37.6, 55.7), square(), square(LON + 3.05)]  # last: in the Caspian
    features = [hazard(g, code=f"H-{i}") for i, g in enumerate(geometries)]
    _, problems, _ = check_features("hazards", as_read(features), today=TODAY, outline=OUTLINE)
    singles = [p for i, f in enumerate(features)
               for p in check_feature("hazards", i, f, today=TODAY, outline=OUTLINE).problems]
    assert problems == singles
    assert [(p.index, p.code) for p in problems] == [
        (0, "lat_lon_swapped"), (1, "outside_azerbaijan"), (3, "outside_azerbaijan")]


def test_a_batch_collects_every_problem_and_merges_unknown_property_warnings():
    features = [hazard(code=f"H-{i}", OBJECTID=i) for i in range(3)]
    features[1]["geometry"] = {"type": "Point", "coordinates": [LON, LAT]}
    features[2]["properties"]["classification"] = "XYZ"
    records, problems, warnings = check_features("hazards", as_read(features), today=TODAY,
                                                 outline=OUTLINE)
    assert [(p.index, p.code) for p in problems] == [(1, "not_polygon"), (2, "invalid_enum")]
    assert len(records) == 1
    assert [(w.index, w.code) for w in warnings] == [(0, "unknown_property")]
    assert "(in 3 features)" in warnings[0].reason


def test_check_geometry_takes_shapely_input():
    geom, problems, warnings = check_geometry(0, shape(square(clockwise=True)), OUTLINE)
    assert problems == [] and warnings == [] and geom.geoms[0].exterior.is_ccw


# --- properties that hold for any input -----------------------------------------------------

@functools.cache
def inland():
    features = json.loads(COUNTRY_FILE.read_text())["features"]
    country = shapely.union_all([shape(f["geometry"]) for f in features]).buffer(-0.05)
    shapely.prepare(country)
    return country


star_polygons = st.builds(
    lambda lon, lat, radii, turns: (lon, lat, radii, sorted(set(turns))),
    st.floats(44.8, 50.6), st.floats(38.4, 41.9),
    st.lists(st.floats(0.0005, 0.03), min_size=12, max_size=12),
    st.lists(st.floats(0, 2 * math.pi, exclude_max=True), min_size=3, max_size=12, unique=True),
)


def star(lon, lat, radii, turns):
    """A polygon star-shaped around (lon, lat): simple whatever the radii."""
    ring = [[lon + radii[i] * math.cos(a), lat + radii[i] * math.sin(a)]
            for i, a in enumerate(turns)]
    return ring + ring[:1]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(star_polygons, st.booleans())
def test_any_valid_polygon_inside_azerbaijan_passes_with_its_area(drawn, clockwise):
    lon, lat, radii, turns = drawn
    assume(inland().contains(Point(lon, lat)) and len(turns) >= 3)
    ring = star(lon, lat, radii, turns)
    polygon = Polygon(ring)
    assume(polygon.is_valid and polygon.area > 1e-9)
    if clockwise:
        ring = ring[::-1]
    checked = check(hazard({"type": "Polygon", "coordinates": [ring]}))
    assert checked.problems == [] and checked.warnings == []
    geom = checked.record["geometry"]
    assert geom.geoms[0].exterior.is_ccw
    expected = abs(WGS84.polygon_area_perimeter([p[0] for p in ring], [p[1] for p in ring])[0])
    assert abs(independent_area(geom) - expected) <= 1e-9 * expected
    swapped = [[y, x] for x, y in ring]
    assert codes(check(hazard({"type": "Polygon", "coordinates": [swapped]}))) \
        == ["lat_lon_swapped"]
