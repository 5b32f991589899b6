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


def watched(page) -> tuple[list, list]:
    """Record every request the page makes and every error it meets."""
    requested, problems = [], []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: problems.append(message.text)
            if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("response", lambda response: problems.append(f"{response.status} {response.url}")
            if response.status >= 400 else None)
    return requested, problems


def test_the_map_draws_the_layers_from_its_own_origin(site, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    requested, problems = watched(page)
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
    requested, problems = watched(page)
    page.goto(f"{site}/dashboard")
    dashboard_at(page, summary["as_of"])

    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)  # in pytest's tmp
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

    # The charts: the burn-down against the baseline, releases by method, devices by type.
    check_charts(page, site, summary["as_of"])

    # At an earlier date, every figure, row and chart is that date's.
    page.fill("#as-of-date", "2022-05-31")
    dashboard_at(page, "2022-05-31")
    assert "date=2022-05-31" in page.url
    then = httpx.get(f"{site}/api/v1/reports/summary", params={"as_of": "2022-05-31"}).json()
    national = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll(
        '#national [data-key]')].map(cell => [cell.dataset.key, cell.dataset.value]))""")
    for key in ("mapped_m2", "released_m2", "cleared_m2", "remaining_m2", "progress"):
        assert float(national[key]) == then[key], key
    then_rows = httpx.get(f"{site}/api/v1/reports/districts",
                          params={"as_of": "2022-05-31"}).json()["districts"]
    assert [float(r["remaining_m2"]) for r in table()] == sorted(
        [r["remaining_m2"] for r in then_rows])  # still sorted as it was
    check_charts(page, site, "2022-05-31")
    assert page.get_attribute("#xlsx", "href").startswith(
        "/api/v1/reports/districts?as_of=2022-05-31&format=xlsx")

    # The district with the hazard leads to the map at that date, showing the district whole.
    page.click('#districts th[data-key="remaining_m2"] button')  # largest first again
    page.click("#districts tbody tr:first-child a")
    assert "district=AZ-AGM" in page.url and "date=2022-05-31" in page.url
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


def dashboard_at(page, date: str) -> None:
    """Wait until every part of the dashboard shows `date`."""
    wait_for(page, " && ".join(f"document.getElementById('{part}').dataset.date === '{date}'"
                               for part in ("national", "districts", "burn-down", "by-method",
                                            "devices")))


def check_charts(page, site: str, date: str) -> None:
    """The dashboard's charts draw the API's figures at `date`."""
    import httpx

    periods = httpx.get(f"{site}/api/v1/reports/timeseries", params={
        "from": "2021-01-01", "to": date}).json()["periods"]
    summary = httpx.get(f"{site}/api/v1/reports/summary", params={"as_of": date}).json()
    drawn = page.evaluate("""() => Object.fromEntries(['burn-down', 'by-method', 'devices']
        .map(id => [id, Chart.getChart(id).data.datasets.map(d => d.data)]))""")
    baseline, burn_down, remaining, projection = drawn["burn-down"]
    day = 86400  # the x axis is in days since 1970
    assert [point["y"] for point in burn_down] == [p["baseline_remaining_km2"] for p in periods]
    assert [point["y"] for point in baseline] == [p["baseline_km2"] for p in periods]
    assert [point["y"] * 1e6 for point in remaining] == pytest.approx(
        [p["remaining_m2"] for p in periods], abs=1e-6)
    ends = [time.gmtime(point["x"] * day) for point in burn_down]
    assert [time.strftime("%Y-%m-%d", end) for end in ends] == [p["period_end"] for p in periods]
    completion = summary["projected_completion"]
    assert periods[-1]["projected_completion"] == completion
    if completion:
        assert time.strftime("%Y-%m-%d", time.gmtime(projection[-1]["x"] * day)) == completion
        assert projection[-1]["y"] == 0
        assert page.get_attribute("#projection", "data-completion") == completion
    cancelled, reduced, cleared = drawn["by-method"]
    assert [v * 1e6 for v in cleared] == pytest.approx([p["cleared_m2"] for p in periods],
                                                       abs=1e-6)
    assert sum(cleared) > 0 or date < "2022-05-01"
    assert drawn["devices"] == [list(summary["devices"].values())]


def on_screen(page, lon: float, lat: float) -> tuple[float, float]:
    """The page's pixel at (lon, lat) on the map."""
    return tuple(page.evaluate(f"""() => {{
        const box = window.minemapMap.getContainer().getBoundingClientRect();
        const p = window.minemapMap.project([{lon}, {lat}]);
        return [box.left + p.x, box.top + p.y];
    }}"""))


def rendered_at(page, layer: str, lon: float, lat: float) -> list[dict]:
    return page.evaluate(f"""() => window.minemapMap.queryRenderedFeatures(
        window.minemapMap.project([{lon}, {lat}]), {{layers: ["{layer}"]}}).map(f => f.properties)""")


def settled(page, date: str) -> None:
    wait_for(page, f"""document.getElementById('map').dataset.drawn === '{date}'
        && document.getElementById('figures').dataset.date === '{date}'""")


def test_the_slider_shows_the_map_and_the_figures_of_a_date(site, browser, tmp_path):
    import httpx

    page = browser.new_page(viewport={"width": 1280, "height": 800})
    requested, problems = watched(page)
    west = CLEARED.centroid  # cleared on 2022-05-01; hazardous from 2021-03-01
    east = HAZARD.difference(CLEARED).centroid
    page.goto(f"{site}/?date=2021-12-31#13/39.97/46.86")
    settled(page, "2021-12-31")
    assert rendered(page, "releases") == []
    assert rendered_at(page, "remaining", west.x, west.y)
    figures = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll(
        '#figures [data-key]')].map(cell => [cell.dataset.key, cell.dataset.value]))""")
    then = httpx.get(f"{site}/api/v1/reports/summary", params={"as_of": "2021-12-31"}).json()
    assert int(figures["remaining_m2"]) == then["remaining_m2"] > 0
    assert int(figures["released_m2"]) == then["released_m2"] == 0

    # Five months on, with the keyboard: the clearance of the western half is drawn.
    page.focus("#date")
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    settled(page, "2022-05-31")
    page.screenshot(path=str(tmp_path / "map-2022-05.png"))
    assert {f["method"] for f in rendered(page, "releases")} == {"cleared"}
    assert not rendered_at(page, "remaining", west.x, west.y)
    assert rendered_at(page, "remaining", east.x, east.y)
    shown = int(page.get_attribute("#figures [data-key=remaining_m2]", "data-value"))
    later = httpx.get(f"{site}/api/v1/reports/summary", params={"as_of": "2022-05-31"}).json()
    assert shown == later["remaining_m2"] < then["remaining_m2"]
    assert "date=2022-05-31" in page.url

    # The district choropleth at that date; a click on the district gives its figures.
    page.click('#legend input[data-layer="choropleth"]')
    wait_for(page, "document.getElementById('map').dataset.shaded === 'remaining@2022-05-31'")
    assert "choropleth" in page.url
    row = next(r for r in httpx.get(f"{site}/api/v1/reports/districts",
                                    params={"as_of": "2022-05-31"}).json()["districts"]
               if r["iso_3166_2"] == "AZ-AGM")
    page.mouse.click(*on_screen(page, 46.90, 39.97))  # in Aghdam, outside the hazard
    wait_for(page, "document.querySelector('.maplibregl-popup [data-iso]')")
    assert page.get_attribute(".maplibregl-popup [data-iso]", "data-iso") == "AZ-AGM"
    assert int(page.get_attribute(".maplibregl-popup [data-iso]", "data-remaining")) == (
        row["remaining_m2"])

    # The link holds the view: opened again, the same date, layers and place.
    again = browser.new_page(viewport={"width": 1280, "height": 800})
    again.goto(page.url)
    settled(again, "2022-05-31")
    assert again.evaluate("() => window.minemapMap.getLayoutProperty('choropleth', "
                          "'visibility')") == "visible"
    assert again.evaluate("() => window.minemapMap.getZoom()") == pytest.approx(13, abs=0.01)

    # Replay steps on by itself, month by month, from the month shown (from January 2021
    # when that is today's).
    page.click("#replay")
    assert page.get_attribute("#replay", "aria-pressed") == "true"
    wait_for(page, "document.getElementById('map').dataset.date > '2022-05-31'", 20)
    page.click("#replay")
    assert page.get_attribute("#replay", "aria-pressed") == "false"
    paused = page.get_attribute("#map", "data-date")
    page.wait_for_timeout(2000)
    assert page.get_attribute("#map", "data-date") == paused and f"date={paused}" in page.url
    assert problems == []
    assert requested and all(url.startswith(site) for url in requested), requested


def test_a_hazard_shows_its_releases_and_history_and_names_are_written(site, browser):
    import httpx

    page = browser.new_page(viewport={"width": 1280, "height": 800})
    requested, problems = watched(page)
    page.goto(f"{site}/#13/39.97/46.86")
    wait_for(page, "document.getElementById('map').dataset.labelled === 'true'"
                   " && window.minemapMap.loaded() && window.minemapMap.areTilesLoaded()")
    assert "Aghdam" in page.locator(".district-label").all_text_contents()
    assert page.locator(".place-label:not([hidden])").count() > 0
    east = HAZARD.difference(CLEARED).centroid
    code = rendered_at(page, "hazards", east.x, east.y)[0]["code"]
    made = httpx.get(f"{site}/api/v1/releases", params={"hazard": code}).json()["features"]
    page.mouse.click(*on_screen(page, east.x, east.y))
    wait_for(page, "document.querySelector('.maplibregl-popup section h3')")
    text = page.inner_text(".maplibregl-popup")
    assert code in text and made[0]["properties"]["code"] in text
    assert "create" in text  # the history
    # Labels switch off with the legend.
    page.click('#legend input[data-layer="labels"]')
    assert not page.locator(".district-label").first.is_visible()
    assert problems == []
    assert all(url.startswith(site) for url in requested), requested


def test_the_pages_speak_azerbaijani(site, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{site}/?lang=az#9/39.97/46.86")
    wait_for(page, "document.getElementById('map').dataset.labelled === 'true'")
    assert page.get_attribute("html", "lang") == "az"
    assert page.inner_text("header nav a[href='/']") == "Xəritə"
    assert "Ağdam" in page.locator(".district-label").all_text_contents()
    # The choice is kept from page to page.
    page.click("header a[href='/dashboard']")
    dashboard_at(page, time.strftime("%Y-%m-%d", time.gmtime()))
    assert page.get_attribute("html", "lang") == "az"
    assert page.inner_text("#devices-title") == "Məhv edilmiş qurğular, növə görə"
    assert page.inner_text("#districts th[data-key=district]") == "Rayon"
    # Numbers with the locale's decimal comma.
    assert "," in page.inner_text("#national [data-key=remaining_m2]")
    page.click("header a[data-lang=en]")
    assert page.get_attribute("html", "lang") == "en"
