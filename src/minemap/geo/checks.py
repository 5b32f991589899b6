"""Check, repair and normalise hazard and release features before anything is stored."""

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyproj
import shapely
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry

from minemap.errors import Problem
from minemap.kinds import KINDS
from minemap.geo.fields import Bad, check_properties
from minemap.geo.outline import Outline
from minemap.geo.shapes import batches, from_geojson, polygons_of

Kind = str  # a kind's name, as kinds.KINDS lists them

GEOD = pyproj.Geod(ellps="WGS84")
MAX_VERTICES = 100_000  # positions as stored, closing ones included (PostGIS ST_NPoints)
MAX_AREA_CHANGE = 0.001  # a repair may change the geodesic area by less than 0.1 %
# Location verdicts that only warn: the feature is stored.
WARNINGS = frozenset({"beyond_border"})

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


def _within(geoms: np.ndarray, area: BaseGeometry) -> np.ndarray:
    """Tell, for each geometry, whether `area` (prepared) covers it."""
    # A bounding-box test first: it settles the far-off ones without the outline.
    west, south, east, north = area.bounds
    box = shapely.bounds(geoms)
    near = (box[:, 0] >= west) & (box[:, 1] >= south) & (box[:, 2] <= east) & (box[:, 3] <= north)
    inside = np.zeros(len(geoms), dtype=bool)
    inside[near] = shapely.covers(area, geoms[near])
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


def _beyond(geom: BaseGeometry, outline: Outline) -> tuple[str, str]:
    stray = geom.difference(outline.land)
    point = stray.point_on_surface() if not stray.is_empty else geom.point_on_surface()
    return ("beyond_border", f"{geodesic_area(stray):,.0f} m² of it lie beyond the border of the "
                             f"loaded districts (at {_lon_lat(point.x, point.y)}), within the "
                             f"{outline.tolerance_m:,.0f} m tolerance: they count nationally, in "
                             "no district")


def _locate(geoms: np.ndarray, outline: Outline) -> list[tuple[str, str] | None]:
    """Say, for each valid geometry, where it lies: None on the land, else (code, reason).

    Beyond the land but within the tolerance is a warning (WARNINGS); further away, a problem.
    """
    verdicts: list[tuple[str, str] | None] = [None] * len(geoms)
    off = np.flatnonzero(~_within(geoms, outline.land))
    if not len(off):
        return verdicts
    near = _within(geoms[off], outline.reach)
    for index in off[near]:
        verdicts[index] = _beyond(geoms[index], outline)
    away = off[~near]
    if not len(away):
        return verdicts
    swapped = _within(shapely.transform(geoms[away], lambda xy: xy[:, ::-1]), outline.reach)
    for index, point in zip(away[swapped], shapely.point_on_surface(geoms[away[swapped]])):
        verdicts[index] = ("lat_lon_swapped", "coordinates look like latitude/longitude swapped "
                           f"(lat {round(point.y, 4)}, lon {round(point.x, 4)}): exchanged, "
                           "they lie in the loaded districts")
    # Name the first vertex out of reach (an overlay with the outline would be slow).
    outside = away[~swapped]
    xy, owner = shapely.get_coordinates(geoms[outside], return_index=True)
    beyond = np.flatnonzero(~shapely.contains_xy(outline.reach, xy[:, 0], xy[:, 1]))
    first = dict(zip(*np.unique(owner[beyond], return_index=True)))
    for number, index in enumerate(outside):
        if number in first:
            where = _lon_lat(*xy[beyond[first[number]]])
        else:  # every vertex within reach, yet an edge strays further
            stray = geoms[index].difference(outline.reach)
            point = (geoms[index] if stray.is_empty else stray).point_on_surface()
            where = _lon_lat(point.x, point.y)
        verdicts[index] = ("outside_azerbaijan", "geometry lies more than "
                           f"{outline.tolerance_m:,.0f} m beyond the border of the loaded "
                           f"districts (at {where})")
    return verdicts


def _placed(index: int, verdict: tuple[str, str] | None, problems: list, warnings: list) -> None:
    """File a location verdict among the problems or the warnings."""
    if verdict is not None:
        (warnings if verdict[0] in WARNINGS else problems).append(Problem(index, *verdict))


def check_geometry(index: int, geometry, outline: Outline | None
                   ) -> tuple[MultiPolygon | None, list[Problem], list[Problem]]:
    """Return the geometry as a valid 2D counter-clockwise MultiPolygon, the problems and warnings.

    `geometry` is a GeoJSON dict or a shapely geometry in lon/lat. Checks that make the later
    ones meaningless (type, emptiness, coordinates, size) stop at the first failure; the
    location (against `outline`; not at all when None) and the validity are both reported.
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
    if outline is not None and not located.is_empty:
        _placed(index, _locate(_one(located), outline)[0], problems, warnings)
    if problems:
        return None, problems, warnings
    return shapely.orient_polygons(repaired), problems, warnings


# A geometry settled by `screen`: normalised (or None), its problems and its warnings.
Screened = tuple[MultiPolygon | None, list[Problem], list[Problem]]


def _check(kind: Kind, index: int, feature, today: date, partial: bool, outline: Outline,
           screened: Screened | None = None) -> tuple[dict, list[Problem], list[Problem]]:
    """Return the feature's values, problems and warnings; `screened` if its geometry was."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if not isinstance(feature, dict) or feature.get("type", "Feature") != "Feature":
        return {}, [Problem(index, "invalid_feature", "input is not a GeoJSON Feature")], []
    values, problems, warnings = check_properties(kind, index, feature.get("properties"),
                                                  today=today, partial=partial)
    if screened is not None:
        values["geometry"], more, said = screened
    elif not (partial and feature.get("geometry") is None):
        values["geometry"], more, said = check_geometry(index, feature.get("geometry"), outline)
    else:
        more = said = []
    problems += more
    warnings += said
    return values, problems, warnings


def check_feature(kind: Kind, index: int, feature: dict, *, today: date, outline: Outline,
                  partial: bool = False) -> Checked:
    """Check one feature, collecting all its problems; with `partial` (PATCH) only what is given.

    A PATCH's cross-field rules (completed_on ≥ started_on) see only the fields it gives; check
    the merged record in full to cover the rest.
    """
    values, problems, warnings = _check(kind, index, feature, today, partial, outline)
    return Checked(None if problems else values, problems, warnings)


def screen(geometries: list, outline: Outline | None) -> list[Screened | None]:
    """Settle at once each shapely geometry that is valid: normalised, or located.

    Vectorised shapely calls decide the common cases (a valid polygon inside the country, or
    a whole file swapped or elsewhere); None leaves a geometry to check_geometry, which names
    its problems or repairs it. The outcomes are those check_geometry would give. Anything
    but a shapely geometry (a GeoJSON dict: files are read as shapely) is left to it too.
    """
    geoms = np.full(len(geometries), None, dtype=object)
    geoms[:] = [g if isinstance(g, BaseGeometry) else None for g in geometries]
    kinds = shapely.get_type_id(geoms)
    polygonal = (kinds == _POLYGON) | (kinds == _MULTIPOLYGON)
    todo = np.flatnonzero(polygonal & ~shapely.is_empty(geoms))
    todo = todo[shapely.get_num_coordinates(geoms[todo]) <= MAX_VERTICES]
    result: list[Screened | None] = [None] * len(geometries)
    # A batch at a time: the coordinates and normalised copies of a whole large file at once
    # would take several times its size in memory.
    for batch in batches(geoms[todo]):
        for index, found in zip(todo[batch].tolist(), _screen(geoms[todo[batch]], outline)):
            if found is not None:
                geom, verdict = found
                problems: list[Problem] = []
                warnings: list[Problem] = []
                _placed(index, verdict, problems, warnings)
                result[index] = (None if problems else geom, problems, warnings)
    return result


def _screen(flat: np.ndarray, outline: Outline | None
            ) -> list[tuple[MultiPolygon, tuple[str, str] | None] | None]:
    """Return, for each polygonal geometry, None (left to check_geometry), or its normalised
    form and its location verdict (see `_locate`)."""
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
    verdicts = _locate(settled, outline) if outline is not None else [None] * len(settled)
    for index, geom, verdict in zip(np.flatnonzero(keep).tolist(), settled, verdicts):
        found[index] = (geom, verdict)
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


def check_features(kind: Kind, features: Iterable[dict], *, today: date,
                   outline: Outline | None
                   ) -> tuple[list[dict], list[Problem], list[Problem]]:
    """Check a batch: the records, all problems (codes used twice included) and warnings.

    When no problems come back, `records[i]` belongs to the i-th feature.
    """
    features = list(features)
    screened = screen([f.get("geometry") if isinstance(f, dict) else None for f in features],
                      outline)
    records, problems, warnings, first = [], [], [], {}
    for index, feature in enumerate(features):
        values, found, said = _check(kind, index, feature, today, False, outline,
                                     screened[index])
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
