"""OGC API Features and vector tiles at /ogc, for GIS clients (QGIS, GDAL, web maps)."""

from minemap.ogc.routes import router

__all__ = ["router"]
