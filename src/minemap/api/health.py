"""GET /health: is the service up, and can it reach PostGIS."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from minemap.db.engine import postgis_version

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request) -> JSONResponse:
    """Report the database and PostGIS version; 503 when the database is unreachable."""
    try:
        with request.app.state.engine.connect() as conn:
            version = postgis_version(conn)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        return JSONResponse(
            {"status": "error", "database": "unreachable", "detail": reason}, status_code=503
        )
    return JSONResponse({"status": "ok", "database": "ok", "postgis": version})
