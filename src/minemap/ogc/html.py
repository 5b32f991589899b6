"""Render the OGC resources as plain HTML pages for browsers: no scripts, no outside assets."""

import json
import math
from html import escape

STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .5em;
text-align:left;vertical-align:top}th{background:#f3f3f3}nav a{margin-right:1em}
svg{border:1px solid #ccc;background:#fafafa}code{background:#f3f3f3;padding:0 .2em}
"""


def page(title: str, body: str, links: list[dict]) -> str:
    """Return a whole page: a title, navigation from the resource's links, and `body`."""
    nav = " ".join(f'<a href="{escape(link["href"])}">{escape(link.get("title") or link["rel"])}</a>'
                   for link in links if link.get("type", "").startswith("text/html")
                   or link["rel"] in ("service-desc", "conformance", "data"))
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
            f"</title><style>{STYLE}</style></head><body><nav>{nav}</nav><h1>{escape(title)}</h1>"
            f"{body}</body></html>")


def value(v) -> str:
    if isinstance(v, (dict, list)):
        return f"<code>{escape(json.dumps(v))}</code>"
    return "" if v is None else escape(str(v))


def table(rows: list[dict], columns: list[str] | None = None) -> str:
    columns = columns or list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{row.get(c, '')}</td>" for c in columns) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def landing(doc: dict) -> str:
    items = "".join(f'<li><a href="{escape(link["href"])}">{escape(link.get("title") or link["rel"])}'
                    f"</a></li>" for link in doc["links"])
    return page(doc["title"], f"<p>{escape(doc['description'])}</p><ul>{items}</ul>", doc["links"])


def conformance(doc: dict) -> str:
    items = "".join(f"<li>{escape(uri)}</li>" for uri in doc["conformsTo"])
    return page("Conformance", f"<ul>{items}</ul>", [])


def collections(doc: dict) -> str:
    rows = [{"collection": _link(_rel(c["links"], "self", "text/html"), c["title"]),
             "id": escape(c["id"]), "description": escape(c["description"]),
             "items": _link(_rel(c["links"], "items", "text/html"), "items")}
            for c in doc["collections"]]
    return page("Collections", table(rows), doc["links"])


def collection(doc: dict) -> str:
    extent = doc.get("extent", {})
    body = (f"<p>{escape(doc['description'])}</p>"
            + table([{"": "bbox (CRS84)", "value": value(extent.get("spatial", {}).get("bbox"))},
                     {"": "interval", "value": value(extent.get("temporal", {}).get("interval"))},
                     {"": "CRS", "value": "<br>".join(escape(c) for c in doc["crs"])},
                     {"": "storage CRS", "value": escape(doc["storageCrs"])}])
            + "<ul>" + "".join(f"<li>{_link(link['href'], link.get('title') or link['rel'])} "
                               f"({escape(link.get('type', ''))})</li>" for link in doc["links"])
            + "</ul>")
    return page(doc["title"], body, doc["links"])


def queryables(doc: dict) -> str:
    rows = [{"name": escape(name), "type": escape(s.get("type") or s.get("format", "geometry")),
             "description": escape(s.get("description", "")),
             "values": value(s.get("enum") or s.get("items", {}).get("enum"))}
            for name, s in doc["properties"].items()]
    return page(doc["title"], table(rows), [])


def items(title: str, collection: dict, features: list[dict], links: list[dict],
          matched: int | None) -> str:
    rows = [{"id": _link(f"items/{f['id']}", f["id"]),
             **{k: value(v) for k, v in f["properties"].items()}} for f in features]
    count = f"{len(features)} of {matched}" if matched is not None else f"{len(features)}"
    paging = " ".join(_link(link["href"], link["rel"]) for link in links
                      if link["rel"] in ("prev", "next") and "html" in link.get("type", ""))
    body = (f"<p>{escape(collection['description'])}</p><p>Features: {count} {paging}</p>"
            + svg(features) + (table(rows) if rows else "<p>No features.</p>"))
    return page(title, body, links)


def item(title: str, feature: dict, links: list[dict]) -> str:
    rows = [{"property": escape(k), "value": value(v)} for k, v in feature["properties"].items()]
    return page(title, svg([feature]) + table(rows), links)


def svg(features: list[dict], width: int = 640, height: int = 360) -> str:
    """Return the features' polygons drawn in a box, longitude scaled by the mean latitude."""
    rings = [ring for f in features for ring in _rings(f.get("geometry"))]
    points = [p for ring in rings for p in ring]
    if not points:
        return ""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    squeeze = math.cos(math.radians((min(ys) + max(ys)) / 2)) if abs(max(ys)) <= 90 else 1
    span = max((max(xs) - min(xs)) * squeeze, max(ys) - min(ys)) or 1e-9
    scale = min(width, height) / span * 0.95

    def xy(p):
        return (f"{(p[0] - min(xs)) * squeeze * scale + 5:.1f},"
                f"{height - (p[1] - min(ys)) * scale - 5:.1f}")

    path = " ".join("M" + " L".join(xy(p) for p in ring) + "Z" for ring in rings)
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
            f'<path d="{path}" fill="#d33" fill-opacity=".4" stroke="#900" stroke-width=".5" '
            f'fill-rule="evenodd"/></svg>')


def _rings(geometry: dict | None) -> list[list]:
    if not geometry:
        return []
    if geometry["type"] == "Polygon":
        return geometry["coordinates"]
    if geometry["type"] == "MultiPolygon":
        return [ring for polygon in geometry["coordinates"] for ring in polygon]
    return []


def _rel(links: list[dict], rel: str, media_type: str) -> str:
    return next((link["href"] for link in links
                 if link["rel"] == rel and link.get("type", "").startswith(media_type)), "#")


def _link(href: str, text) -> str:
    return f'<a href="{escape(str(href))}">{escape(str(text))}</a>'
