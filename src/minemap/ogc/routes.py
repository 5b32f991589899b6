"""The /ogc routes: OGC API Features (Parts 1-3) and vector tiles, as JSON or HTML.

Handlers parse with dependencies, call features or tiles, and shape the response: links,
format, and the caching headers. Every response carries an ETag made from the data version
(migrations/sql/0003_ogc.sql), so a client revalidates cheaply and never keeps stale land.
"""

import hashlib
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response

from minemap import __version__
from minemap.http.auth import Reader, reader
from minemap.store.access import sees_submissions
from minemap.http.deps import ConnectionDep, SettingsDep
from minemap.db.models import MAX_ID
from minemap.errors import MinemapError, NotFound
from minemap.ogc import crs as crs_
from minemap.ogc import features, html, openapi, tiles
from minemap.ogc.collections import COLLECTIONS, Collection
from minemap.ogc.query import ItemsQuery, collection, items_query
from minemap.ogc.query import days as query_days

JSON = "application/json"
GEOJSON = "application/geo+json"
HTML = "text/html"
SCHEMA = "application/schema+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/array-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/property-property",
    "http://www.opengis.net/spec/ogcapi-features-8/1.0/conf/sorting",
]

router = APIRouter(prefix="/ogc", tags=["OGC API"], dependencies=[Depends(reader)])


def view(source: Annotated[Collection, Depends(collection)], reader: Reader,
         include: Annotated[str | None, Query(description="'submitted' to show submitted records "
                                                          "too (admins and reviewers only)")] = None
         ) -> Collection:
    """Return the collection as the caller asked to see it: approved records, or submitted too."""
    if include not in (None, "submitted"):
        raise MinemapError(f"include must be 'submitted', not {include!r}")
    return source.with_submitted() if sees_submissions(reader, include) else source


SourceDep = Annotated[Collection, Depends(view)]


# Negotiation and caching

def wants_html(request: Request) -> bool:
    """HTML for f=html or a browser's Accept; JSON for f=json, any other Accept or none."""
    f = request.query_params.get("f")
    if f is not None:
        if f not in ("html", "json", "geojson"):
            raise MinemapError(f"f must be html, json or geojson, not {f!r}")
        return f == "html"
    weights = {}
    for part in request.headers.get("accept", "").split(","):
        kind, _, params = part.strip().partition(";")
        q = next((p.split("=")[1] for p in params.split(";") if p.strip().startswith("q=")), "1")
        try:
            weights[kind.strip().lower()] = float(q)
        except ValueError:
            continue
    best_json = max((weights.get(k, 0) for k in (JSON, GEOJSON)), default=0)
    return weights.get(HTML, 0) > best_json


def etag(request: Request, version: str, html_page: bool) -> str:
    """Return the ETag of this request's answer at data `version`."""
    key = f"{__version__}|{request.url}|{html_page}"
    return f'"{version}-{hashlib.blake2b(key.encode(), digest_size=8).hexdigest()}"'


def caching(request: Request, settings, tag: str, **extra) -> dict:
    # Land is released any day: a cached copy is always revalidated, never trusted blind.
    # Submissions are for reviewers' eyes: no shared cache keeps them.
    shared = settings.public_read and request.query_params.get("include") is None
    scope = "public" if shared else "private"
    return {"ETag": tag, "Cache-Control": f"{scope}, no-cache", "Vary": "Accept", **extra}


def not_modified(request: Request, headers: dict) -> Response | None:
    sent = request.headers.get("if-none-match")
    if sent and (sent.strip() == "*" or headers["ETag"] in {
            t.strip().removeprefix("W/") for t in sent.split(",")}):
        return Response(status_code=304, headers=headers)
    return None


def memo(request: Request) -> features.Memo:
    state = request.app.state
    if not hasattr(state, "ogc_memo"):
        state.ogc_memo = features.Memo()
    return state.ogc_memo


def answer(request: Request, doc: dict, media_type: str, render, headers: dict) -> Response:
    if wants_html(request):
        return Response(render(doc), media_type="text/html; charset=utf-8", headers=headers)
    return Response(orjson.dumps(doc), media_type=media_type, headers=headers)


def link(href, rel: str, media_type: str, title: str | None = None, **extra) -> dict:
    found = {"href": str(href), "rel": rel, "type": media_type, **extra}
    if title:
        found["title"] = title
    return found


def both(url, rel: str, media_type: str, title: str) -> list[dict]:
    """Links to a resource as data and as a page (self when rel is self)."""
    html_rel = "alternate" if rel == "self" else rel
    return [link(url.include_query_params(f="json") if rel == "self" else url, rel, media_type,
                 title), link(url.include_query_params(f="html"), html_rel, HTML, f"{title} (HTML)")]


# Metadata

@router.get("", name="ogc_landing", summary="Landing page")
def landing(request: Request, conn: ConnectionDep, settings: SettingsDep) -> Response:
    headers = caching(request, settings, etag(request, features.begin(conn), wants_html(request)))
    if (unchanged := not_modified(request, headers)) is not None:
        return unchanged
    doc = {
        "title": "minemap: OGC API",
        "description": "Landmine and explosive-ordnance hazard areas in Azerbaijan and the land "
                       "released from them, as OGC API Features and vector tiles.",
        "links": [
            *both(request.url_for("ogc_landing"), "self", JSON, "This document"),
            link(request.url_for("ogc_api"), "service-desc", OPENAPI, "The API definition"),
            link(request.url_for("ogc_conformance"), "conformance", JSON, "Conformance classes"),
            link(request.url_for("ogc_collections"), "data", JSON, "The collections"),
        ],
    }
    return answer(request, doc, JSON, html.landing, headers)


@router.get("/conformance", name="ogc_conformance", summary="Conformance classes")
def conformance(request: Request, settings: SettingsDep) -> Response:
    headers = caching(request, settings, etag(request, 0, wants_html(request)))
    return answer(request, {"conformsTo": CONFORMANCE}, JSON, html.conformance, headers)


@router.get("/api", name="ogc_api", summary="OpenAPI 3.0 definition of /ogc")
def api(request: Request, settings: SettingsDep) -> Response:
    doc = memo(request).get(("openapi", str(request.base_url)), lambda: openapi.document(
        router.routes, prefix=router.prefix, version=__version__,
        server=str(request.base_url).rstrip("/")))
    headers = caching(request, settings, etag(request, 0, False))
    return Response(orjson.dumps(doc), media_type=OPENAPI, headers=headers)


def describe(request: Request, conn, source: Collection, version: str) -> dict:
    """Return the collection's metadata: extent, CRS, and links to items, queryables, tiles."""
    extent = memo(request).get((version, source.key, "extent"), lambda: _extent(conn, source))
    items = request.url_for("ogc_items", collection_id=source.id)
    spatial = {"bbox": [list(extent.bbox)] if extent.bbox else [], "crs": crs_.CRS84.uri}
    doc = {
        "id": source.id, "title": source.title, "description": source.description,
        "itemType": "feature",
        "extent": {"spatial": spatial},
        "crs": [c.uri for c in crs_.SUPPORTED], "storageCrs": crs_.STORAGE.uri,
        "links": [
            *both(request.url_for("ogc_collection", collection_id=source.id), "self", JSON,
                  source.title),
            *both(items, "items", GEOJSON, f"{source.title}: features"),
            link(request.url_for("ogc_queryables", collection_id=source.id),
                 "http://www.opengis.net/def/rel/ogc/1.0/queryables", SCHEMA, "Queryables"),
            link(request.url_for("ogc_tilesets", collection_id=source.id),
                 "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", JSON, "Vector tiles"),
        ],
    }
    if extent.interval:
        doc["extent"]["temporal"] = {
            "interval": [list(extent.interval)],
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}
    return doc


def _extent(conn, source: Collection) -> features.Extent:
    features.require_current(conn, source)
    return features.extent(conn, source)


@router.get("/collections", name="ogc_collections", summary="The collections")
def all_collections(request: Request, conn: ConnectionDep, settings: SettingsDep) -> Response:
    version = features.begin(conn)
    headers = caching(request, settings, etag(request, version, wants_html(request)))
    if (unchanged := not_modified(request, headers)) is not None:
        return unchanged
    doc = {
        "links": both(request.url_for("ogc_collections"), "self", JSON, "The collections"),
        "collections": [describe(request, conn, c, version) for c in COLLECTIONS.values()],
        "crs": [c.uri for c in crs_.SUPPORTED],
    }
    return answer(request, doc, JSON, html.collections, headers)


@router.get("/collections/{collection_id}", name="ogc_collection", summary="A collection")
def one_collection(request: Request, source: SourceDep, conn: ConnectionDep,
                   settings: SettingsDep) -> Response:
    version = features.begin(conn)
    headers = caching(request, settings, etag(request, version, wants_html(request)))
    if (unchanged := not_modified(request, headers)) is not None:
        return unchanged
    return answer(request, describe(request, conn, source, version), JSON, html.collection,
                  headers)


@router.get("/collections/{collection_id}/queryables", name="ogc_queryables",
            summary="The properties a filter may name")
def queryables(request: Request, source: SourceDep, settings: SettingsDep) -> Response:
    headers = caching(request, settings, etag(request, 0, wants_html(request)))
    properties = {"geometry": {"title": "geometry", "format": "geometry-any",
                               "description": "The feature's geometry (CRS84 unless filter-crs)"}}
    properties |= {f.name: f.schema for f in source.fields}
    doc = {"$schema": "https://json-schema.org/draft/2020-12/schema",
           "$id": str(request.url_for("ogc_queryables", collection_id=source.id)),
           "type": "object", "title": f"{source.title}: queryables",
           "properties": properties, "additionalProperties": False}
    return answer(request, doc, SCHEMA, html.queryables, headers)


# Features

@router.get("/collections/{collection_id}/items", name="ogc_items", summary="Features",
            response_class=Response,
            responses={200: {"content": {GEOJSON: {}, HTML: {}}}, 304: {}, 400: {}})
def items(request: Request, source: SourceDep, query: Annotated[ItemsQuery, Depends(items_query)],
          conn: ConnectionDep, settings: SettingsDep) -> Response:
    as_html = wants_html(request)
    version = features.begin(conn)
    headers = caching(request, settings, etag(request, version, as_html),
                      **{"Content-Crs": crs_.header(query.crs)})
    if (unchanged := not_modified(request, headers)) is not None:
        return unchanged
    features.require_current(conn, source)
    matched = None if query.selects else memo(request).get(
        (version, source.key, "count"), lambda: features.count(conn, source))
    found = features.page(conn, source, query, matched=matched)
    links = _page_links(request, source, query, found)
    if as_html:
        listed = orjson.loads(f"[{found.features}]")
        body = html.items(source.title, describe(request, conn, source, version), listed, links,
                          found.matched)
        return Response(body, media_type="text/html; charset=utf-8", headers=headers)
    tail = {"numberReturned": found.returned, "links": links}
    if found.matched is not None:
        tail["numberMatched"] = found.matched
    body = (b'{"type":"FeatureCollection","features":[' + found.features.encode()
            + b"]," + orjson.dumps(tail)[1:])
    return Response(body, media_type=GEOJSON, headers=headers)


def _page_links(request: Request, source: Collection, query: ItemsQuery,
                found: features.Page) -> list[dict]:
    url = request.url
    links = [link(url.include_query_params(f="json"), "self", GEOJSON, "This page"),
             link(url.include_query_params(f="html"), "alternate", HTML, "This page (HTML)"),
             link(request.url_for("ogc_collection", collection_id=source.id), "collection", JSON,
                  source.title)]
    if found.returned == 0:
        more = False
    elif query.after is None and found.matched is not None:
        more = query.offset + found.returned < found.matched
    else:
        more = found.returned == query.limit
    pages = []
    if more:
        following = {"offset": query.offset + found.returned, "limit": query.limit}
        if not query.sortby:
            following["after"] = found.last_id
        pages.append(("next", url.include_query_params(**following)))
    if query.offset > 0:
        previous = url.remove_query_params("after")
        pages.append(("prev", previous.include_query_params(
            offset=max(0, query.offset - query.limit), limit=query.limit)))
    for rel, target in pages:
        links.append(link(target.remove_query_params("f"), rel, GEOJSON, f"{rel} page"))
        links.append(link(target.include_query_params(f="html"), rel, HTML, f"{rel} page (HTML)"))
    return links


@router.get("/collections/{collection_id}/items/{feature_id}", name="ogc_item",
            summary="One feature", response_class=Response,
            responses={200: {"content": {GEOJSON: {}, HTML: {}}}, 304: {}, 404: {}})
def item(request: Request, source: SourceDep, feature_id: str, conn: ConnectionDep,
         settings: SettingsDep, crs: str | None = None) -> Response:
    unknown = sorted(set(request.query_params) - {"f", "crs", "include"})
    if unknown:
        raise MinemapError(f"unknown query parameter(s): {', '.join(unknown)}")
    output = crs_.parse(crs, "crs")
    as_html = wants_html(request)
    version = features.begin(conn)
    headers = caching(request, settings, etag(request, version, as_html),
                      **{"Content-Crs": crs_.header(output)})
    if (unchanged := not_modified(request, headers)) is not None:
        return unchanged
    features.require_current(conn, source)
    # Only ASCII digits within the bigint range can be an id ('²' is a digit to Python).
    known = feature_id.isascii() and feature_id.isdigit() and 0 < int(feature_id) <= MAX_ID
    found = features.one(conn, source, int(feature_id), output) if known else None
    if found is None:
        raise NotFound(f"no feature {feature_id!r} in {source.id}")
    links = [*both(request.url_for("ogc_item", collection_id=source.id, feature_id=feature_id),
                   "self", GEOJSON, "This feature"),
             link(request.url_for("ogc_collection", collection_id=source.id), "collection", JSON,
                  source.title)]
    if as_html:
        body = html.item(f"{source.title}: {feature_id}", orjson.loads(found), links)
        return Response(body, media_type="text/html; charset=utf-8", headers=headers)
    body = found[:-1] + ',"links":' + orjson.dumps(links).decode() + "}"
    return Response(body, media_type=GEOJSON, headers=headers)


# Vector tiles

@router.get("/collections/{collection_id}/tiles", name="ogc_tilesets", summary="Vector tilesets")
def tilesets(request: Request, source: SourceDep, settings: SettingsDep) -> Response:
    headers = caching(request, settings, etag(request, 0, False))
    template = _tile_template(request, source)
    doc = {"tilesets": [{
        "title": f"{source.title}: vector tiles", "dataType": "vector",
        "crs": crs_.WEB_MERCATOR.uri, "tileMatrixSetURI": tiles.TILE_MATRIX_SET_URI,
        "links": [
            link(request.url_for("ogc_tilejson", collection_id=source.id), "self", JSON,
                 "TileJSON"),
            link(template, "item", tiles.MVT, "Tiles", templated=True),
        ]}]}
    return Response(orjson.dumps(doc), media_type=JSON, headers=headers)


def _tile_template(request: Request, source: Collection) -> str:
    base = request.url_for("ogc_tilejson", collection_id=source.id)
    return f"{base}/{{z}}/{{y}}/{{x}}" + ("?include=submitted" if source.submitted else "")


@router.get("/collections/{collection_id}/tiles/WebMercatorQuad", name="ogc_tilejson",
            summary="TileJSON of the collection's vector tiles")
def tilejson(request: Request, source: SourceDep, conn: ConnectionDep,
             settings: SettingsDep) -> Response:
    version = features.begin(conn)
    headers = caching(request, settings, etag(request, version, False))
    if (unchanged := not_modified(request, headers)) is not None:
        return unchanged
    extent = memo(request).get((version, source.key, "extent"), lambda: _extent(conn, source))
    bounds = list(extent.bbox) if extent.bbox else [-180, -85.0511, 180, 85.0511]
    doc = {
        "tilejson": "3.0.0", "name": source.id, "description": source.description,
        "scheme": "xyz", "tiles": [_tile_template(request, source)],
        "minzoom": 0, "maxzoom": tiles.MAX_ZOOM, "bounds": bounds,
        "center": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, 8],
        "vector_layers": [{"id": source.id, "description": source.title,
                           "minzoom": 0, "maxzoom": tiles.MAX_ZOOM,
                           "fields": tiles.fields(source)}],
    }
    return Response(orjson.dumps(doc), media_type=JSON, headers=headers)


@router.get("/collections/{collection_id}/tiles/WebMercatorQuad/{z}/{y}/{x}", name="ogc_tile",
            summary="A vector tile", response_class=Response,
            responses={200: {"content": {tiles.MVT: {}}}, 204: {}, 304: {}, 404: {}})
def tile(request: Request, source: SourceDep, z: int, y: int, x: int, conn: ConnectionDep,
         settings: SettingsDep,
         datetime: Annotated[str | None, Query(description=(
             "An instant or an interval, as /items takes it: the features of those days "
             "(for `remaining`, the land remaining then)"))] = None) -> Response:
    if not tiles.check(z, x, y):
        raise NotFound(f"no tile {z}/{y}/{x} in WebMercatorQuad (zoom 0 to {tiles.MAX_ZOOM})")
    days = query_days(datetime)
    version = features.begin(conn)
    headers = caching(request, settings, etag(request, version, False))
    if (unchanged := not_modified(request, headers)) is not None:
        return unchanged
    data = tiles.tile(conn, source, z, x, y, version=version, cache=request.app.state.tiles,
                      days=days)
    return Response(data, media_type=tiles.MVT, headers=headers)
