"""Read and check input features: pure geometry, no database and no HTTP."""

from minemap.geo.checks import GEOD, Checked, check_feature, check_features, geodesic_area
from minemap.geo.fields import parse_date, parse_list

__all__ = ["GEOD", "Checked", "check_feature", "check_features", "geodesic_area", "parse_date",
           "parse_list"]
