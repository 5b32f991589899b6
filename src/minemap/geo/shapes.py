"""Turn GeoJSON geometries into 2D shapely polygons, naming whatever is malformed."""

from collections.abc import Iterator

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from minemap.geo.fields import Bad

_NOT_POLYGONS = {"point", "multipoint", "linestring", "multilinestring"}


def _ring(ring, where: str) -> np.ndarray:
    try:
        xy = np.asarray(ring, dtype=float)
    except (TypeError, ValueError):
        xy = None
    if xy is None or xy.ndim != 2 or xy.shape[1] < 2:
        raise Bad("invalid_geometry", f"ring {where} is not a list of [lon, lat] positions")
    xy = xy[:, :2]
    if not np.isfinite(xy).all():
        raise Bad("non_finite_coordinates", f"ring {where} has coordinates that are not finite "
                                            "numbers (NaN or infinity)")
    if len(xy) and not (xy[0] == xy[-1]).all():
        xy = np.vstack([xy, xy[:1]])  # close it, as shapely would
    if len(xy) < 4:
        raise Bad("too_few_points", f"ring {where} has {len(xy)} points, fewer than 4")
    return xy


def _polygon(coords, where: str) -> Polygon:
    if not isinstance(coords, list):
        raise Bad("invalid_geometry", f"polygon {where}coordinates are not a list of rings")
    rings = [_ring(ring, f"{where}{number}") for number, ring in enumerate(coords, 1)]
    return Polygon(rings[0], rings[1:]) if rings else Polygon()


def from_geojson(geometry: dict) -> BaseGeometry:
    """Build a 2D shapely geometry from a GeoJSON dict, or raise Bad naming what is wrong."""
    kind = geometry.get("type")
    name = str(kind).lower()
    coords = geometry.get("coordinates")
    if name == "polygon":
        return _polygon(coords, "")
    if name == "multipolygon":
        if not isinstance(coords, list):
            raise Bad("invalid_geometry", "multipolygon coordinates are not a list of polygons")
        return MultiPolygon([p for number, polygon in enumerate(coords, 1)
                             if not (p := _polygon(polygon, f"{number}.")).is_empty])
    if name == "geometrycollection":
        members = geometry.get("geometries")
        if not isinstance(members, list) or not all(isinstance(m, dict) for m in members):
            raise Bad("invalid_geometry", "geometrycollection geometries are not a list")
        others = [m.get("type") for m in members if str(m.get("type")).lower() in _NOT_POLYGONS]
        if others:
            raise Bad("not_polygon", f"geometry is a GeometryCollection holding a {others[0]}, "
                                     "not only polygons")
        return shapely.GeometryCollection([from_geojson(member) for member in members])
    if name in _NOT_POLYGONS:
        raise Bad("not_polygon", f"geometry is a {kind}, not a Polygon or MultiPolygon")
    raise Bad("invalid_geometry", f"geometry type {kind!r} is not a GeoJSON geometry type")


def polygons_of(geom: BaseGeometry, *, strict: bool = True) -> MultiPolygon:
    """Return the polygons of `geom` as one MultiPolygon; with `strict`, refuse anything else."""
    if strict and geom.geom_type not in ("Polygon", "MultiPolygon", "GeometryCollection"):
        raise Bad("not_polygon", f"geometry is a {geom.geom_type}, not a Polygon or MultiPolygon")
    parts = []
    for part in shapely.get_parts(geom):
        if part.geom_type == "Polygon":
            parts.append(part)
        elif part.geom_type == "MultiPolygon":
            parts.extend(part.geoms)
        elif strict:
            raise Bad("not_polygon", f"geometry is a GeometryCollection holding a "
                                     f"{part.geom_type}, not only polygons")
    return MultiPolygon([part for part in parts if not part.is_empty])


def batches(geoms: np.ndarray, coordinates: int = 1_000_000) -> Iterator[slice]:
    """Split `geoms` into runs of about `coordinates` coordinates (at least one geometry each),
    so that what is derived from them a run at a time stays small whatever the file holds."""
    ends = np.cumsum(shapely.get_num_coordinates(geoms))
    start = 0
    while start < len(geoms):
        before = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, before + coordinates, "right")))
        yield slice(start, stop)
        start = stop
