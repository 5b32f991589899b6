"""Describe the /ogc routes in OpenAPI 3.0, from FastAPI's own schema of them.

FastAPI writes OpenAPI 3.1 (JSON Schema 2020-12); OGC API Features asks for 3.0, which GDAL
and OWSLib read. The few 3.1 idioms FastAPI uses are rewritten, and the standard query
parameters get the schemas OGC API Features gives them.
"""

from fastapi.openapi.utils import get_openapi

from minemap.ogc.query import DEFAULT_LIMIT, MAX_LIMIT

PARAMETERS = {
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    "offset": {"type": "integer", "minimum": 0, "default": 0},
    "after": {"type": "integer", "minimum": 0},
    "bbox": {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
    "datetime": {"type": "string"},
    "properties": {"type": "array", "items": {"type": "string"}},
    "sortby": {"type": "array", "items": {"type": "string"}},
    "filter": {"type": "string"},
    "filter-lang": {"type": "string", "enum": ["cql2-text", "cql2-json"], "default": "cql2-text"},
    "crs": {"type": "string", "format": "uri"},
    "bbox-crs": {"type": "string", "format": "uri"},
    "filter-crs": {"type": "string", "format": "uri"},
}
ARRAYS = {"bbox", "properties", "sortby"}
# Path parameters under the names OGC API documents use (clients look paths up by them).
NAMES = {"collection_id": "collectionId", "feature_id": "featureId", "z": "tileMatrix",
         "y": "tileRow", "x": "tileCol"}


def document(routes, *, prefix: str, version: str, server: str) -> dict:
    """Return the OpenAPI 3.0.3 document of the routes under `prefix`, served at `server`.

    Paths are relative to the server URL, which ends in `prefix`: /collections/... as the
    standard writes them.
    """
    mine = [r for r in routes if getattr(r, "path", "").startswith(prefix)]
    doc = get_openapi(title="minemap OGC API", version=version, openapi_version="3.0.3",
                      description="OGC API Features and vector tiles of minemap.",
                      routes=mine, servers=[{"url": server + prefix}])
    doc = _downgrade(doc)
    paths = {}
    for path, operations in doc["paths"].items():
        path = path.removeprefix(prefix) or "/"
        for old, new in NAMES.items():
            path = path.replace("{" + old + "}", "{" + new + "}")
        paths[path] = operations
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    parameter["name"] = NAMES.get(parameter["name"], parameter["name"])
                schema = PARAMETERS.get(parameter["name"])
                if schema and parameter["in"] == "query":
                    parameter["schema"] = schema
                    if parameter["name"] in ARRAYS:
                        parameter.update(style="form", explode=False)
    doc["paths"] = paths
    return doc


def _downgrade(node):
    """Rewrite JSON Schema 2020-12 idioms as OpenAPI 3.0 schema objects."""
    if isinstance(node, list):
        return [_downgrade(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _downgrade(v) for k, v in node.items()}
    options = node.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        del node["anyOf"]
        node.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
        node["nullable"] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if isinstance(node.get("examples"), list) and "paths" not in node:
        examples = node.pop("examples")
        if examples:
            node["example"] = examples[0]
    for bound in ("exclusiveMinimum", "exclusiveMaximum"):
        if isinstance(node.get(bound), (int, float)) and not isinstance(node.get(bound), bool):
            node[bound.replace("exclusiveM", "m")] = node[bound]
            node[bound] = True
    return node
