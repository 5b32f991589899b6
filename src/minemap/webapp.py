"""The web app: the map at `/` and the dashboard, served with minemap's own files and libraries.

Nothing the page loads comes from another origin: MapLibre and Chart.js are installed from
npm at setup (src/minemap/web/package-lock.json) and served from /static/vendor, the layers
are the OGC vector tiles, and the Content-Security-Policy lets the browser fetch from this
origin only.

Every string a page shows is in one catalog per language (web/i18n/<lang>.json, the same
keys in each): templates read it as `t`, scripts from the page's `strings` JSON block.
"""

import json
from functools import cache
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape

WEB = Path(__file__).parent / "web"
NODE_MODULES = WEB / "node_modules"
VENDOR = {"maplibre-gl": NODE_MODULES / "maplibre-gl" / "dist",
          "chart.js": NODE_MODULES / "chart.js" / "dist"}
CSP = ("default-src 'self'; img-src 'self' data: blob:; worker-src 'self' blob:; "
       "style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'self'")
LANGUAGES = ("en", "az")  # web/i18n/<lang>.json; the first is the default
LANGUAGE_COOKIE = "minemap_lang"

_templates = Environment(loader=PackageLoader("minemap", "web/templates"),
                         autoescape=select_autoescape(default=True))
router = APIRouter(include_in_schema=False)


@cache
def catalog(language: str) -> dict[str, str]:
    """Return the strings of `language`, one of LANGUAGES."""
    return json.loads((WEB / "i18n" / f"{language}.json").read_text(encoding="utf-8"))


def language(request: Request) -> str:
    """The page's language: `?lang=`, else the one chosen before, else the browser's."""
    for chosen in (request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE)):
        if chosen in LANGUAGES:
            return chosen
    wanted = []
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, quality = part.strip().partition(";q=")
        try:
            wanted.append((float(quality or 1), tag.split("-")[0].lower()))
        except ValueError:
            continue
    return next((tag for _, tag in sorted(wanted, reverse=True) if tag in LANGUAGES),
                LANGUAGES[0])


def _page(request: Request, template: str) -> HTMLResponse:
    lang = language(request)
    strings = catalog(lang)
    body = _templates.get_template(template).render(
        lang=lang, t=strings, languages={code: catalog(code)["_language"] for code in LANGUAGES},
        # For the scripts, in a JSON block (not run, so the CSP allows it); no "<" may end it.
        strings_json=json.dumps(strings, ensure_ascii=False).replace("<", "\\u003c"))
    response = HTMLResponse(body, headers={"Content-Security-Policy": CSP,
                                           "Content-Language": lang})
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """The map."""
    return _page(request, "map.html")


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request) -> HTMLResponse:
    """The national figures and the district table."""
    return _page(request, "dashboard.html")


def mount(app: FastAPI) -> None:
    """Serve the page, its files and the libraries npm installed."""
    app.include_router(router)
    # check_dir=False: a checkout where `make setup` has not run npm yet still starts.
    for name, directory in VENDOR.items():
        app.mount(f"/static/vendor/{name}", StaticFiles(directory=directory, check_dir=False),
                  name=f"vendor-{name}")
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")
