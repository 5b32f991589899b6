"""Build the FastAPI application."""

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from minemap import __version__, ogc, webapp
from minemap.api import api_v1, health
from minemap.api.problems import add_handlers
from minemap.ogc.tiles import Cache
from minemap.db.engine import make_engine
from minemap.settings import Settings


class OgcTrailingSlash:
    """Serve `/ogc/...` paths with a trailing slash as the path without it.

    OGC conformance tools request `{root}/` and do not follow redirects, so the slash form
    answers 200 itself rather than 307.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith("/ogc/") and path.endswith("/"):
            scope = dict(scope, path=path.rstrip("/"))
            scope.pop("raw_path", None)
        await self.app(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Return the minemap service configured by `settings` (from the environment if None)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.engine = make_engine(settings)
        try:
            yield
        finally:
            app.state.engine.dispose()

    app = FastAPI(
        title="minemap",
        version=__version__,
        description="Landmine and explosive-ordnance contamination and its clearance.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.tiles = Cache()
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["*"], allow_headers=["*"], expose_headers=["ETag", "Location"])
    app.add_middleware(OgcTrailingSlash)
    add_handlers(app)
    app.include_router(health.router)
    app.include_router(api_v1)
    app.include_router(ogc.router)

    webapp.mount(app)
    return app
