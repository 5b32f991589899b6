"""Name the coordinate reference systems the OGC layers speak, and move geometry between them.

Storage is EPSG:4326 in longitude/latitude order, which is what CRS84 means. EPSG:4326 itself
is latitude first (OGC API Features Part 2), so it is the stored geometry with axes swapped.
"""

from dataclasses import dataclass
from functools import cache

import numpy as np
import pyproj
import shapely
from sqlalchemy import func
from sqlalchemy.sql.elements import ColumnElement

from minemap.errors import MinemapError


@dataclass(frozen=True)
class Crs:
    uri: str
    srid: int
    lat_first: bool = False
    digits: int = 9  # decimals written: 9 for degrees (0.1 mm), 3 for metres (1 mm)


CRS84 = Crs("http://www.opengis.net/def/crs/OGC/1.3/CRS84", 4326)
EPSG_4326 = Crs("http://www.opengis.net/def/crs/EPSG/0/4326", 4326, lat_first=True)
WEB_MERCATOR = Crs("http://www.opengis.net/def/crs/EPSG/0/3857", 3857, digits=3)
UTM_38N = Crs("http://www.opengis.net/def/crs/EPSG/0/32638", 32638, digits=3)

SUPPORTED = (CRS84, EPSG_4326, WEB_MERCATOR, UTM_38N)
STORAGE = CRS84
_BY_NAME = {c.uri: c for c in SUPPORTED} | {
    "CRS84": CRS84, "OGC:CRS84": CRS84,
    "EPSG:4326": EPSG_4326, "EPSG:3857": WEB_MERCATOR, "EPSG:32638": UTM_38N,
}


def parse(value: str | None, parameter: str) -> Crs:
    """Return the CRS named by a URI, a CURIE ([EPSG:4326]) or a short name; CRS84 if None."""
    if value is None or not value.strip():
        return CRS84
    name = value.strip()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    crs = _BY_NAME.get(name) or _BY_NAME.get(name.upper())
    if crs is None:
        supported = ", ".join(c.uri for c in SUPPORTED)
        raise MinemapError(f"{parameter}: unsupported CRS {value!r}; use one of {supported}")
    return crs


@cache
def _to_lonlat(srid: int) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(srid, 4326, always_xy=True)


def check_domain(geometry: shapely.Geometry, crs: Crs, parameter: str) -> None:
    """Refuse coordinates a projected CRS cannot take back to longitude/latitude.

    PostGIS would fail on them mid-query; here they get a 400 that names the parameter.
    """
    if crs.srid == 4326:
        return
    xy = shapely.get_coordinates(geometry)
    lon, lat = _to_lonlat(crs.srid).transform(xy[:, 0], xy[:, 1], errcheck=False)
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        raise MinemapError(f"{parameter}: coordinates outside the domain of {crs.uri}")


def to_storage(geom: ColumnElement, crs: Crs) -> ColumnElement:
    """Return `geom` (given in `crs`, any SRID) as stored: EPSG:4326, longitude first."""
    if crs.lat_first:
        return func.ST_SetSRID(func.ST_FlipCoordinates(geom), 4326)
    if crs.srid == 4326:
        return func.ST_SetSRID(geom, 4326)
    return func.ST_Transform(func.ST_SetSRID(geom, crs.srid), 4326)


def from_storage(geom: ColumnElement, crs: Crs) -> ColumnElement:
    """Return stored geometry in `crs`."""
    if crs.lat_first:
        return func.ST_FlipCoordinates(geom)
    if crs.srid == 4326:
        return geom
    return func.ST_Transform(geom, crs.srid)


def header(crs: Crs) -> str:
    """Return the Content-Crs header value for `crs`."""
    return f"<{crs.uri}>"


def box(bounds: tuple[float, float, float, float], crs: Crs) -> ColumnElement:
    """Return a box given in `crs` (in its axis order) as a stored polygon."""
    x0, y0, x1, y1 = bounds
    size = max(x1 - x0, y1 - y0)
    along = np.linspace(0, 1, 65)  # the points of the segmentized box below
    edges = np.concatenate([np.column_stack([x0 + (x1 - x0) * along, np.full(65, y)])
                            for y in (y0, y1)] +
                           [np.column_stack([np.full(65, x), y0 + (y1 - y0) * along])
                            for x in (x0, x1)])
    check_domain(shapely.multipoints(edges), crs, "bbox")
    envelope = func.ST_MakeEnvelope(x0, y0, x1, y1)
    if crs.srid != 4326 and size > 0:
        # A projected box's straight edges are curves in longitude/latitude.
        envelope = func.ST_Segmentize(envelope, size / 64)
    return to_storage(envelope, crs)
