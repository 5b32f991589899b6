"""The web map in a real browser (Debian's Chromium, driven by Playwright) on a real server.

The map must draw features from minemap's tiles (rendered features queried, not a canvas
merely present), and no request may leave the server's origin during the session.
"""

import json
import shutil
import time

import pytest
from shapely.geometry import box, mapping

from minemap.app import create_app
from serving import serving
from test_review import bearer, hazard, issue_tokens, release

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not shutil.which("chromium"),
                                reason="Debian's chromium is not installed")
# In Aghdam: a hazard, and a clearance of its western half.
HAZARD = box(46.85, 39.96, 46.87, 39.98)
CLEARED = box(46.85, 39.96, 46.86, 39.98)


@pytest.fixture
def site(settings, engine, units):
    issued = issue_tokens(engine)
    with serving(create_app(settings), log_level="warning") as url:
        import httpx

        with httpx.Client(base_url=url, headers=bearer(issued["admin"]), timeout=30) as client:
            made = client.post("/api/v1/hazards", json=hazard(
                json.loads(json.dumps(mapping(HAZARD))), classification="CHA"))
            assert made.status_code == 201, made.text
            cleared = client.post("/api/v1/releases", json=release(
                json.loads(json.dumps(mapping(CLEARED))),
                hazard=made.json()["properties"]["code"]))
            assert cleared.status_code == 201, cleared.text
        yield url


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-sandbox"])
        yield launched
        launched.close()


def wait_for(page, condition: str, seconds: float = 60) -> None:
    """Poll `condition` (JavaScript) until true: Playwright's own wait evaluates strings with
    eval, which the page's Content-Security-Policy rightly forbids."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(f"() => Boolean({condition})"):
        assert time.monotonic() < deadline, f"never true: {condition}"
        page.wait_for_timeout(100)


def rendered(page, layer: str) -> list[dict]:
    return page.evaluate(f"""() => window.minemapMap.queryRenderedFeatures(
        {{layers: ["{layer}"]}}).map(f => f.properties)""")


def test_the_map_draws_the_layers_from_its_own_origin(site, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    requested, problems = [], []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: problems.append(message.text)
            if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("response", lambda response: problems.append(f"{response.status} {response.url}")
            if response.status >= 400 else None)
    page.goto(f"{site}/#13/39.97/46.86")
    wait_for(page, "window.minemapMap && window.minemapMap.loaded()"
                   " && window.minemapMap.areTilesLoaded()")

    page.screenshot(path=str(tmp_path / "map.png"))  # kept in pytest's temporary folder
    hazards = rendered(page, "hazards")
    assert {f["classification"] for f in hazards} == {"CHA"}
    assert {f["method"] for f in rendered(page, "releases")} == {"cleared"}
    assert rendered(page, "remaining") and rendered(page, "districts")
    # The legend switches a layer off.
    page.click('#legend input[data-layer="releases"]')
    wait_for(page, "window.minemapMap.getLayoutProperty('releases', 'visibility') === 'none'"
                   " && window.minemapMap.queryRenderedFeatures({layers: ['releases']})"
                   ".length === 0")
    assert rendered(page, "hazards")
    assert problems == []
    assert requested and all(url.startswith(site) for url in requested), requested
