"""Render the OGC resources as plain HTML pages for browsers: no scripts, no outside assets.

Each resource has a Jinja2 template in web/templates/ extending base.html; the functions here
pick the template and hand it the document, with what the template should not compute itself.
"""

import json
import math

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

# Links shown in every page's navigation besides the HTML ones.
NAV_RELS = ("service-desc", "conformance", "data")


def _page_of(links: list[dict], rel: str) -> str:
    """Return the href of the HTML link with `rel`, or '#' when there is none."""
    return next((link["href"] for link in links
                 if link["rel"] == rel and link.get("type", "").startswith("text/html")), "#")


_env = Environment(loader=PackageLoader("minemap", "web/templates"),
                   autoescape=select_autoescape(), undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True)
_env.filters["json"] = json.dumps
_env.filters["page_of"] = _page_of


def render(template: str, title: str, links: list[dict], **context) -> str:
    """Return `template` rendered as a page titled `title`, navigating by `links`."""
    nav = [link for link in links
           if link.get("type", "").startswith("text/html") or link["rel"] in NAV_RELS]
    return _env.get_template(template).render(title=title, nav=nav, **context)


def landing(doc: dict) -> str:
    return render("landing.html", doc["title"], doc["links"], doc=doc)


def conformance(doc: dict) -> str:
    return render("conformance.html", "Conformance", [], doc=doc)


def collections(doc: dict) -> str:
    return render("collections.html", "Collections", doc["links"], doc=doc)


def collection(doc: dict) -> str:
    return render("collection.html", doc["title"], doc["links"], doc=doc)


def queryables(doc: dict) -> str:
    return render("queryables.html", doc["title"], [], doc=doc)


def items(title: str, collection: dict, features: list[dict], links: list[dict],
          matched: int | None) -> str:
    columns = list(dict.fromkeys(k for f in features for k in f["properties"]))
    paging = [link for link in links
              if link["rel"] in ("prev", "next") and "html" in link.get("type", "")]
    return render("items.html", title, links, collection=collection, features=features,
                  matched=matched, columns=columns, paging=paging, drawing=drawing(features))


def item(title: str, feature: dict, links: list[dict]) -> str:
    return render("item.html", title, links, feature=feature, drawing=drawing([feature]))


def drawing(features: list[dict], width: int = 640, height: int = 360) -> dict | None:
    """Return the features' polygons as an SVG path in a box, longitude scaled by the mean latitude.

    None when there is nothing to draw; otherwise the box's `width`, `height` and the path `d`.
    """
    rings = [ring for f in features for ring in _rings(f.get("geometry"))]
    points = [p for ring in rings for p in ring]
    if not points:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    squeeze = math.cos(math.radians((min(ys) + max(ys)) / 2)) if abs(max(ys)) <= 90 else 1
    span = max((max(xs) - min(xs)) * squeeze, max(ys) - min(ys)) or 1e-9
    scale = min(width, height) / span * 0.95

    def xy(p):
        return (f"{(p[0] - min(xs)) * squeeze * scale + 5:.1f},"
                f"{height - (p[1] - min(ys)) * scale - 5:.1f}")

    path = " ".join("M" + " L".join(xy(p) for p in ring) + "Z" for ring in rings)
    return {"width": width, "height": height, "d": path}


def _rings(geometry: dict | None) -> list[list]:
    if not geometry:
        return []
    if geometry["type"] == "Polygon":
        return geometry["coordinates"]
    if geometry["type"] == "MultiPolygon":
        return [ring for polygon in geometry["coordinates"] for ring in polygon]
    return []
