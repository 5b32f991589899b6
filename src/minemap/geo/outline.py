"""The outline features are checked against: the land the loaded units cover, and a margin.

Minefields lie along international borders, where a 1:10m boundary line is accurate only to
about a kilometre. So a feature reaching past the units' outline is refused only beyond a
tolerance: there it is clearly misplaced (swapped coordinates, a wrong CRS, another country);
within it, it is accepted with a warning.
"""

from dataclasses import dataclass

import numpy as np
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

# A buffer in an azimuthal equidistant projection centred on the units errs in scale by under
# 0.05 % within 270 km of the centre (all of Azerbaijan): growing by 0.1 % more keeps the margin
# at least the tolerance everywhere there, and at most a few metres more. Units spanning
# much more (another country's file) get a margin that shrinks with distance from the centre,
# by about 0.5 % at 1,100 km: still a margin, if a less exact one.
SCALE_MARGIN = 1.001


@dataclass(frozen=True)
class Outline:
    """`land`: the union of the units; `reach`: land grown by `tolerance_m`. Both prepared."""

    land: BaseGeometry
    reach: BaseGeometry
    tolerance_m: float


def _project(geom: BaseGeometry, transformer: pyproj.Transformer) -> BaseGeometry:
    return shapely.transform(geom, lambda xy: np.column_stack(transformer.transform(*xy.T)))


def outline_of(units: list[BaseGeometry], tolerance_m: float) -> Outline:
    """Return the outline of `units` (lon/lat polygons) with a margin of `tolerance_m` metres."""
    land = shapely.union_all(units)
    reach = land
    if tolerance_m > 0 and not land.is_empty:
        centre = land.centroid
        metric = pyproj.CRS(proj="aeqd", lat_0=centre.y, lon_0=centre.x, datum="WGS84", units="m")
        to_m = pyproj.Transformer.from_crs("EPSG:4326", metric, always_xy=True)
        to_deg = pyproj.Transformer.from_crs(metric, "EPSG:4326", always_xy=True)
        # Densified both ways, so that edges straight in one system stay close to straight in
        # the other; arcs of 128 chords sag by well under a metre.
        grown = _project(shapely.segmentize(land, 0.01), to_m).buffer(
            tolerance_m * SCALE_MARGIN, quad_segs=32)
        reach = _project(shapely.segmentize(grown, 500.0), to_deg)
    shapely.prepare(land)
    shapely.prepare(reach)
    return Outline(land, reach, float(tolerance_m))
