"""The web app: the map at `/` and the dashboard, served with minemap's own files and libraries.

Nothing the page loads comes from another origin: MapLibre is installed from npm at setup
(src/minemap/web/package-lock.json) and served from /static/vendor, the layers are the OGC
vector tiles, and the Content-Security-Policy lets the browser fetch from this origin only.
"""

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape

WEB = Path(__file__).parent / "web"
VENDOR = WEB / "node_modules" / "maplibre-gl" / "dist"
CSP = ("default-src 'self'; img-src 'self' data: blob:; worker-src 'self' blob:; "
       "style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'self'")

_templates = Environment(loader=PackageLoader("minemap", "web/templates"),
                         autoescape=select_autoescape(default=True))
router = APIRouter(include_in_schema=False)


def _page(template: str) -> HTMLResponse:
    return HTMLResponse(_templates.get_template(template).render(),
                        headers={"Content-Security-Policy": CSP})


@router.get("/", response_class=HTMLResponse)
def home() -> HTMLResponse:
    """The map."""
    return _page("map.html")


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard() -> HTMLResponse:
    """The national figures and the district table."""
    return _page("dashboard.html")


def mount(app: FastAPI) -> None:
    """Serve the page, its files and the libraries npm installed."""
    app.include_router(router)
    # check_dir=False: a checkout where `make setup` has not run npm yet still starts.
    app.mount("/static/vendor", StaticFiles(directory=VENDOR, check_dir=False), name="vendor")
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")
