"""The HTTP API: /health and /api/v1."""

from fastapi import APIRouter

from minemap.api import health

api_v1 = APIRouter(prefix="/api/v1")

__all__ = ["api_v1", "health"]
