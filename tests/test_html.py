"""The OGC pages from web/templates/: hostile strings stay text, links stay the given links.

These render the documents directly, without a database; test_ogc.py asks the running service
for the same pages.
"""

from html.parser import HTMLParser

from minemap.ogc import html

HOSTILE = '<script>alert("x & y")</script><img src=x onerror=alert(1)>'
TAGS = {"html", "head", "meta", "title", "style", "body", "nav", "h1", "p", "ul", "li", "a",
        "table", "tr", "th", "td", "code", "br", "svg", "path"}


class Page(HTMLParser):
    """A page's tags with their attributes, and its text with entities decoded."""

    def __init__(self, source: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text = ""
        self.feed(source)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text += data

    def hrefs(self) -> list[str]:
        return [attrs["href"] for tag, attrs in self.tags if tag == "a"]


def link(href: str, rel: str, media_type: str, title: str | None = None) -> dict:
    return {"href": href, "rel": rel, "type": media_type} | ({"title": title} if title else {})


LINKS = [link('/ogc?f=json&x="><script>', "self", "application/json", HOSTILE),
         link('/ogc?f=html&x="><script>', "alternate", "text/html", HOSTILE),
         link("/ogc/api", "service-desc", "application/vnd.oai.openapi+json;version=3.0"),
         link("/ogc/collections?f=html&a=1", "data", "text/html")]
COLLECTION = {"id": "hazards", "title": HOSTILE, "description": HOSTILE, "crs": [HOSTILE, "x"],
              "storageCrs": HOSTILE, "links": [link("/c?f=html", "self", "text/html"),
                                              link("/c/items?f=html", "items", "text/html")],
              "extent": {"spatial": {"bbox": [[46.0, 39.0, 47.0, 40.0]]},
                         "temporal": {"interval": [[HOSTILE, None]]}}}
SQUARE = {"type": "Polygon", "coordinates": [[[46, 39], [47, 39], [47, 40], [46, 40], [46, 39]]]}
FEATURE = {"type": "Feature", "id": 7, "geometry": SQUARE,
           "properties": {"code": HOSTILE, HOSTILE: "key", "types": ["AP", HOSTILE],
                          "none": None, "area_m2": 12.5}}


def pages() -> dict[str, str]:
    return {
        "landing": html.landing({"title": HOSTILE, "description": HOSTILE, "links": LINKS}),
        "conformance": html.conformance({"conformsTo": [HOSTILE]}),
        "collections": html.collections({"collections": [COLLECTION], "links": LINKS}),
        "collection": html.collection(COLLECTION),
        "queryables": html.queryables({"title": HOSTILE, "properties": {
            HOSTILE: {"type": "string", "description": HOSTILE, "enum": [HOSTILE]}}}),
        "items": html.items(HOSTILE, COLLECTION, [FEATURE], LINKS, 1),
        "item": html.item(HOSTILE, FEATURE, LINKS),
    }


def test_hostile_strings_are_text_on_every_page():
    for name, source in pages().items():
        page = Page(source)
        assert {tag for tag, _ in page.tags} <= TAGS, name
        assert not any(key.startswith("on") or key == "src" for _, attrs in page.tags
                       for key in attrs), name
        assert "<script>" in page.text, name  # shown as text, not run
        assert source.startswith("<!doctype html>") and "<script" not in source, name


def test_the_item_page_shows_each_property_as_given():
    page = Page(html.item("Hazards: 7", FEATURE, LINKS))
    assert HOSTILE in page.text and "key" in page.text and "12.5" in page.text
    assert '["AP", "<script>alert(\\"x & y\\")</script><img src=x onerror=alert(1)>"]' in page.text
    # The parser lower-cases attribute names.
    assert ("svg", {"width": "640", "height": "360", "viewbox": "0 0 640 360"}) in page.tags
    # Navigation: the HTML links and the API description, never the JSON self link.
    assert page.hrefs() == ['/ogc?f=html&x="><script>', "/ogc/api", "/ogc/collections?f=html&a=1"]


def test_the_items_page_counts_pages_and_links_each_feature():
    paging = [*LINKS, link("/i?offset=1&f=html", "next", "text/html", "next page (HTML)"),
              link("/i?offset=1", "next", "application/geo+json", "next page")]
    page = Page(html.items("Hazards", COLLECTION, [FEATURE], paging, 9))
    assert "Features: 1 of 9" in page.text
    assert page.hrefs().count("/i?offset=1&f=html") == 2  # navigation and paging
    assert "/i?offset=1" not in page.hrefs() and "items/7" in page.hrefs()
    empty = Page(html.items("Hazards", COLLECTION, [], LINKS, None))
    assert "Features: 0" in empty.text and "No features." in empty.text
    assert not any(tag == "svg" for tag, _ in empty.tags)
