"""The web map in a real browser (Debian's Chromium, driven by Playwright) on a real server.

The map must draw features from minemap's tiles (rendered features queried, not a canvas
merely present), and no request may leave the server's origin during the session.
"""

import json
import shutil
import time

import pytest
from shapely.geometry import box, mapping, shape

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


def test_the_dashboard_shows_the_reports_and_leads_to_the_map(site, browser, tmp_path):
    import httpx

    summary = httpx.get(f"{site}/api/v1/reports/summary").json()
    rows = httpx.get(f"{site}/api/v1/reports/districts").json()["districts"]
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    requested, problems = [], []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: problems.append(message.text)
            if message.type == "error" else None)
    page.goto(f"{site}/dashboard")
    wait_for(page, "document.querySelector('#districts').dataset.loaded === 'true'"
                   " && document.querySelector('#national [data-key=remaining_m2]').dataset.value")

    page.screenshot(path=str(tmp_path / "dashboard.png"))  # kept in pytest's temporary folder
    national = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll(
        '#national [data-key]')].map(cell => [cell.dataset.key, cell.dataset.value]))""")
    for key in ("mapped_m2", "released_m2", "cleared_m2", "remaining_m2", "baseline_km2"):
        assert float(national[key]) == summary[key], key
    assert national["projected_completion"] == (summary["projected_completion"] or "")

    def table() -> list[dict]:
        return page.evaluate("""() => [...document.querySelectorAll('#districts tbody tr')].map(
            tr => Object.fromEntries([...tr.cells].map((td, i) => [
                document.querySelectorAll('#districts th')[i].dataset.key, td.dataset.value])))""")
    shown = table()
    assert [r["district"] for r in shown] == [r["district"] for r in rows]
    for got, want in zip(shown, rows):
        assert float(got["remaining_m2"]) == want["remaining_m2"], want["district"]
    # Sorting by the remaining land, largest first, then smallest first.
    page.click('#districts th[data-key="remaining_m2"] button')
    remaining = [float(r["remaining_m2"]) for r in table()]
    assert remaining == sorted(remaining, reverse=True) and remaining[0] > 0
    page.click('#districts th[data-key="remaining_m2"] button')
    assert [float(r["remaining_m2"]) for r in table()] == sorted(remaining)

    # The district with the hazard leads to the map, showing that district whole.
    page.click('#districts th[data-key="remaining_m2"] button')  # largest first again
    page.click("#districts tbody tr:first-child a")
    assert "district=AZ-AGM" in page.url
    aghdam = httpx.get(f"{site}/ogc/collections/districts/items",
                       params={"filter": "iso_3166_2 = 'AZ-AGM'"}).json()["features"][0]
    west, south, east, north = shape(aghdam["geometry"]).bounds
    # Fitted to the district: all of it in view, and not much more.
    wait_for(page, f"""window.minemapMap && window.minemapMap.loaded()
        && window.minemapMap.getBounds().contains([{west}, {south}])
        && window.minemapMap.getBounds().contains([{east}, {north}])
        && window.minemapMap.getBounds().getEast() - window.minemapMap.getBounds().getWest()
           < 2.5 * {east - west}""")
    assert problems == []
    assert all(url.startswith(site) for url in requested), requested
