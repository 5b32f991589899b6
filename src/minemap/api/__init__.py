"""The HTTP API: /health and /api/v1."""

from fastapi import APIRouter

from minemap.api import baselines, health, imports, records, reports

api_v1 = APIRouter(prefix="/api/v1")
for kind_router in records.routers:
    api_v1.include_router(kind_router)
api_v1.include_router(baselines.router)
api_v1.include_router(reports.router)
api_v1.include_router(imports.router)

__all__ = ["api_v1", "health"]
