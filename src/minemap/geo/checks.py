"""Check, repair and normalise hazard and release features before anything is stored."""

import functools
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import pyproj
import shapely
from shapely.geometry import MultiPolygon, shape
from shapely.geometry.base import BaseGeometry

from minemap.errors import Problem
from minemap.geo.fields import FIELDS, Bad, check_properties
from minemap.geo.shapes import assemble, batches, from_geojson, polygons_of
from minemap.resources import project_dir

Kind = Literal["hazards", "releases"]

GEOD = pyproj.Geod(ellps="WGS84")
MAX_VERTICES = 100_000  # positions as stored, closing ones included (PostGIS ST_NPoints)
MAX_AREA_CHANGE = 0.001  # a repair may change the geodesic area by less than 0.1 %
BORDER_M = 1000.0  # how far beyond the country outline a feature may reach

_POLYGON, _MULTIPOLYGON = 3, 6  # shapely type ids
_INVALID_AT = re.compile(r"(.*?)\[(\S+) (\S+)\]")
_CODES = {"Self-intersection": "self_intersection", "Ring Self-intersection": "self_intersection",
          "Too few points": "too_few_points"}  # GEOS's reasons, by how they start


@dataclass
class Checked:
    """One checked feature: `record` (normalised fields and geometry) only when no problems."""

    record: dict | None
    problems: list[Problem]
    warnings: list[Problem]


def geodesic_area(geom: BaseGeometry) -> float:
    """Return the area in m² on the WGS84 ellipsoid, whatever the rings' orientation."""
    return abs(GEOD.geometry_area_perimeter(shapely.orient_polygons(geom))[0])


@functools.cache
def border() -> BaseGeometry:
    """Return Azerbaijan grown by 1 km, in lon/lat and prepared, loaded on first use."""
    path = project_dir("data") / "districts" / "azerbaijan_country.geojson"
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    country = shapely.union_all([shape(feature["geometry"]) for feature in features])
    centre = country.centroid
    # Grow the outline in metres in an azimuthal equidistant projection centred on the country.
    # Nowhere in Azerbaijan (< 270 km from the centre) does its scale err by 0.05 %, so buffering
    # by 1.001 km, with arcs of 128 chords (sagging 0.3 m), keeps the margin at least 1 km
    # everywhere and at most a metre more. Both outlines are densified so that edges straight
    # in one system stay close to straight in the other.
    metric = pyproj.CRS(proj="aeqd", lat_0=centre.y, lon_0=centre.x, datum="WGS84", units="m")
    to_m = pyproj.Transformer.from_crs("EPSG:4326", metric, always_xy=True)
    to_deg = pyproj.Transformer.from_crs(metric, "EPSG:4326", always_xy=True)
    metric_country = _project(shapely.segmentize(country, 0.01), to_m)
    grown = metric_country.buffer(BORDER_M * 1.001, quad_segs=32)
    outline = _project(shapely.segmentize(grown, 500.0), to_deg)
    shapely.prepare(outline)
    return outline


def _project(geom: BaseGeometry, transformer: pyproj.Transformer) -> BaseGeometry:
    return shapely.transform(geom, lambda xy: np.column_stack(transformer.transform(*xy.T)))


def _covered(geoms: np.ndarray) -> np.ndarray:
    """Tell, for each geometry, whether it lies within 1 km of Azerbaijan."""
    outline = border()
    # A bounding-box test first: it settles the far-off ones without the outline.
    west, south, east, north = outline.bounds
    box = shapely.bounds(geoms)
    near = (box[:, 0] >= west) & (box[:, 1] >= south) & (box[:, 2] <= east) & (box[:, 3] <= north)
    inside = np.zeros(len(geoms), dtype=bool)
    inside[near] = shapely.covers(outline, geoms[near])
    return inside


def _one(geom: BaseGeometry) -> np.ndarray:
    array = np.empty(1, dtype=object)
    array[0] = geom
    return array


def _lon_lat(x: float, y: float) -> str:
    return f"lon {round(float(x), 4)}, lat {round(float(y), 4)}"


def _percent(change: float) -> str:
    return f"{change * 100:.2g} %" if change < 0.01 else f"{change * 100:.1f} %"


def _repair(index: int, geom: MultiPolygon) -> tuple[MultiPolygon | None, Problem]:
    """Return the repaired geometry and a warning, or None and the problem."""
    reason = shapely.is_valid_reason(geom)
    found = _INVALID_AT.match(reason)
    what = found[1] if found else reason
    at = f" at lon {round(float(found[2]), 4)}, lat {round(float(found[3]), 4)}" if found else ""
    code = next((code for start, code in _CODES.items() if what.startswith(start)),
                "invalid_geometry")
    said = "self-intersects" if code == "self_intersection" else f"is not valid ({what.lower()})"
    repaired = polygons_of(shapely.make_valid(geom), strict=False)
    if not repaired.is_valid:  # polygonal parts of a valid collection may still touch along edges
        repaired = polygons_of(shapely.union_all(repaired.geoms), strict=False)
    if repaired.is_empty:
        return None, Problem(index, code, f"geometry {said}{at} and repairing it leaves no area")
    before, after = geodesic_area(geom), geodesic_area(repaired)
    change = abs(after - before) / before if before > 0 else math.inf
    if change < MAX_AREA_CHANGE:
        return repaired, Problem(index, "repaired", f"geometry {said}{at}; repaired, its area "
                                                    f"changed by {_percent(change)}")
    by = f" ({_percent(change)})" if before > 0 else ""
    return None, Problem(index, code, f"geometry {said}{at}; repairing it would change its area "
                                      f"from {before:,.0f} m² to {after:,.0f} m²{by}, "
                                      "more than 0.1 %")


def _locate(geoms: np.ndarray) -> list[tuple[str, str] | None]:
    """Say, for each valid geometry, why it is not in Azerbaijan: (code, reason), or None."""
    verdicts: list[tuple[str, str] | None] = [None] * len(geoms)
    away = np.flatnonzero(~_covered(geoms))
    if not len(away):
        return verdicts
    swapped = _covered(shapely.transform(geoms[away], lambda xy: xy[:, ::-1]))
    for index, point in zip(away[swapped], shapely.point_on_surface(geoms[away[swapped]])):
        verdicts[index] = ("lat_lon_swapped", "coordinates look like latitude/longitude swapped "
                           f"(lat {round(point.y, 4)}, lon {round(point.x, 4)}): exchanged, "
                           "they lie in Azerbaijan")
    # Name the first vertex beyond the border (an overlay with the outline would be slow).
    outside = away[~swapped]
    xy, owner = shapely.get_coordinates(geoms[outside], return_index=True)
    beyond = np.flatnonzero(~shapely.contains_xy(border(), xy[:, 0], xy[:, 1]))
    first = dict(zip(*np.unique(owner[beyond], return_index=True)))
    for number, index in enumerate(outside):
        if number in first:
            where = _lon_lat(*xy[beyond[first[number]]])
        else:  # every vertex within 1 km, yet an edge strays further
            stray = geoms[index].difference(border())
            point = (geoms[index] if stray.is_empty else stray).point_on_surface()
            where = _lon_lat(point.x, point.y)
        verdicts[index] = ("outside_azerbaijan",
                           f"geometry lies more than 1 km outside Azerbaijan (at {where})")
    return verdicts


def check_geometry(index: int,
                   geometry) -> tuple[MultiPolygon | None, list[Problem], list[Problem]]:
    """Return the geometry as a valid 2D counter-clockwise MultiPolygon, the problems and warnings.

    `geometry` is a GeoJSON dict or a shapely geometry in lon/lat. Checks that make the later
    ones meaningless (type, emptiness, coordinates, size) stop at the first failure; the
    location and the validity are both reported.
    """
    if geometry is None:
        return None, [Problem(index, "missing_geometry", "feature has no geometry")], []
    try:
        if isinstance(geometry, dict):
            geom = from_geojson(geometry)
        elif isinstance(geometry, BaseGeometry):
            geom = geometry
        else:
            raise Bad("invalid_geometry", f"geometry {type(geometry).__name__} is not GeoJSON")
        geom = polygons_of(shapely.force_2d(geom))
    except Bad as bad:
        return None, [Problem(index, bad.code, bad.reason)], []
    if geom.is_empty:
        return None, [Problem(index, "empty_geometry", "geometry is empty")], []
    if not np.isfinite(shapely.get_coordinates(geom)).all():
        return None, [Problem(index, "non_finite_coordinates",
                              "geometry has coordinates that are not finite numbers")], []
    vertices = shapely.get_num_coordinates(geom)
    if vertices > MAX_VERTICES:
        return None, [Problem(index, "too_many_vertices", f"geometry has {vertices:,} vertices, "
                                                          f"more than {MAX_VERTICES:,}")], []
    problems, warnings = [], []
    repaired = geom
    if not geom.is_valid:
        repaired, said = _repair(index, geom)
        (warnings if repaired is not None else problems).append(said)
    # Locate the repaired shape when there is one: predicates on invalid geometries may fail.
    located = repaired if repaired is not None else shapely.make_valid(geom)
    if not located.is_empty and (wrong := _locate(_one(located))[0]) is not None:
        problems.append(Problem(index, *wrong))
    if problems:
        return None, problems, warnings
    return shapely.orient_polygons(repaired), problems, warnings


Screened = tuple[MultiPolygon | None, list[Problem]]


def _check(kind: Kind, index: int, feature, today: date, partial: bool,
           screened: Screened | None = None) -> tuple[dict, list[Problem], list[Problem]]:
    """Return the feature's values, problems and warnings; `screened` if its geometry was."""
    if kind not in FIELDS:
        raise ValueError(f"kind must be hazards or releases, not {kind!r}")
    if not isinstance(feature, dict) or feature.get("type", "Feature") != "Feature":
        return {}, [Problem(index, "invalid_feature", "input is not a GeoJSON Feature")], []
    values, problems, warnings = check_properties(kind, index, feature.get("properties"),
                                                  today=today, partial=partial)
    if screened is not None:
        values["geometry"], more = screened
        problems += more
    elif not (partial and feature.get("geometry") is None):
        values["geometry"], more, repaired = check_geometry(index, feature.get("geometry"))
        problems += more
        warnings += repaired
    return values, problems, warnings


def check_feature(kind: Kind, index: int, feature: dict, *, today: date,
                  partial: bool = False) -> Checked:
    """Check one feature, collecting all its problems; with `partial` (PATCH) only what is given.

    A PATCH's cross-field rules (completed_on ≥ started_on) see only the fields it gives; check
    the merged record in full to cover the rest.
    """
    values, problems, warnings = _check(kind, index, feature, today, partial)
    return Checked(None if problems else values, problems, warnings)


def screen(geometries: list) -> list[Screened | None]:
    """Settle at once each geometry that is well formed and valid: normalised, or located.

    Vectorised shapely calls decide the common cases (a valid polygon inside the country, or
    a whole file swapped or elsewhere); None leaves a geometry to check_geometry, which names
    its problems or repairs it. The outcomes are those check_geometry would give.
    """
    geoms = assemble(geometries)
    kinds = shapely.get_type_id(geoms)
    polygonal = (kinds == _POLYGON) | (kinds == _MULTIPOLYGON)
    todo = np.flatnonzero(polygonal & ~shapely.is_empty(geoms))
    todo = todo[shapely.get_num_coordinates(geoms[todo]) <= MAX_VERTICES]
    result: list[Screened | None] = [None] * len(geometries)
    # A batch at a time: the coordinates and normalised copies of a whole large file at once
    # would take several times its size in memory.
    for batch in batches(geoms[todo]):
        for index, found in zip(todo[batch].tolist(), _screen(geoms[todo[batch]])):
            if found is not None:
                geom, wrong = found
                result[index] = (geom, []) if wrong is None else (None, [Problem(index, *wrong)])
    return result


def _screen(flat: np.ndarray) -> list[tuple[MultiPolygon | None, tuple | None] | None]:
    """Return, for each polygonal geometry, None (left to check_geometry), or its normalised
    form and None, or None and why it is not in Azerbaijan."""
    raised = shapely.has_z(flat)
    flat[raised] = shapely.force_2d(flat[raised])
    xy, owner = shapely.get_coordinates(flat, return_index=True)
    keep = np.ones(len(flat), dtype=bool)
    keep[owner[~np.isfinite(xy).all(axis=1)]] = False
    keep[keep] = shapely.is_valid(flat[keep])
    settled = shapely.orient_polygons(flat[keep])
    single = shapely.get_type_id(settled) == _POLYGON
    settled[single] = shapely.multipolygons(settled[single][:, np.newaxis])  # one part each
    found: list = [None] * len(flat)
    for index, geom, wrong in zip(np.flatnonzero(keep).tolist(), settled, _locate(settled)):
        found[index] = (geom, None) if wrong is None else (None, wrong)
    return found


def _merge_unknown(warnings: list[Problem]) -> list[Problem]:
    """Say once per name that a property was ignored, with the number of features having it."""
    seen: dict[str, list[int]] = {}
    rest = []
    for warning in warnings:
        if warning.code == "unknown_property":
            seen.setdefault(warning.reason, []).append(warning.index)
        else:
            rest.append(warning)
    merged = [Problem(indexes[0], "unknown_property",
                      reason if len(indexes) == 1 else f"{reason} (in {len(indexes):,} features)")
              for reason, indexes in seen.items()]
    return merged + rest


def check_features(kind: Kind, features: Iterable[dict], *,
                   today: date) -> tuple[list[dict], list[Problem], list[Problem]]:
    """Check a batch: the records, all problems (codes used twice included) and warnings.

    When no problems come back, `records[i]` belongs to the i-th feature.
    """
    features = list(features)
    screened = screen([f.get("geometry") if isinstance(f, dict) else None for f in features])
    records, problems, warnings, first = [], [], [], {}
    for index, feature in enumerate(features):
        values, found, said = _check(kind, index, feature, today, False, screened[index])
        code = values.get("code")
        if code is not None and code in first:
            found.append(Problem(index, "duplicate_code", f"code '{code}' is used by features "
                                                          f"{first[code]} and {index}"))
        elif code is not None:
            first[code] = index
        problems += found
        warnings += said
        if not found:
            records.append(values)
    return records, problems, _merge_unknown(warnings)
