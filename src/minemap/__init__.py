"""minemap: landmine contamination and land-release tracker."""

__version__ = "0.1.0"
