"""Access control that holds: every endpoint × every kind of caller, on real running servers.

Also: tokens never reach the logs, CORS stays closed unless configured, and hostile strings in
query parameters and properties are refused (or, in free text, stored verbatim) and change
nothing else.
"""

import itertools
import json
import logging
from datetime import date
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from minemap.app import create_app
from minemap.db.engine import transaction
from minemap import write
from minemap.kinds import KINDS
from minemap.store import districts, tokens
from minemap.vocab import Role
from serving import serving
from test_review import bearer, count, hazard, issue_tokens, release, square

FEATURES = {"hazards": hazard, "releases": release}
CALLERS = ("admin", "reviewer", "op_own", "op_other", "viewer", "anon_public", "anon_private",
           "revoked", "malformed")
MALFORMED = "Bearer ' OR '1'='1"
_places = itertools.count()

# Expected status per caller, in the order of CALLERS. Records belong to HALO (op_own's
# organisation); "approved" and "submitted" name the record's review state.
OPEN = (200, 200, 200, 200, 200, 200, 401, 401, 401)
HIDDEN = (200, 200, 200, 404, 404, 404, 401, 401, 401)
RECORD_MATRIX = {
    # name: (method, path after /api/v1/{kind}, record, body, expected)
    "list": ("GET", "", None, None, OPEN),
    "read approved": ("GET", "/{id}", "approved", None, OPEN),
    "read submitted": ("GET", "/{id}", "submitted", None, HIDDEN),
    "read approved at a time": ("GET", "/{id}?at=2100-01-01T00:00:00Z", "approved", None, OPEN),
    "read submitted at a time": ("GET", "/{id}?at=2100-01-01T00:00:00Z", "submitted", None,
                                 HIDDEN),
    "history approved": ("GET", "/{id}/history", "approved", None, OPEN),
    "history submitted": ("GET", "/{id}/history", "submitted", None, HIDDEN),
    "create for HALO": ("POST", "", None, "feature",
                        (201, 201, 201, 403, 403, 401, 401, 401, 401)),
    "change approved": ("PATCH", "/{id}", "approved", "change",
                        (200, 200, 200, 403, 403, 401, 401, 401, 401)),
    "change submitted": ("PATCH", "/{id}", "submitted", "change",
                         (200, 200, 200, 404, 403, 401, 401, 401, 401)),
    "change without If-Match": ("PATCH", "/{id}", "approved", "change, no If-Match",
                                (428, 428, 428, 428, 403, 401, 401, 401, 401)),
    "delete approved": ("DELETE", "/{id}", "approved", None,
                        (204, 204, 403, 403, 403, 401, 401, 401, 401)),
    "delete submitted": ("DELETE", "/{id}", "submitted", None,
                         (204, 204, 204, 404, 403, 401, 401, 401, 401)),
    "approve submitted": ("POST", "/{id}/review", "submitted", {"decision": "approve"},
                          (200, 200, 403, 403, 403, 401, 401, 401, 401)),
    "approve approved": ("POST", "/{id}/review", "approved", {"decision": "approve"},
                         (409, 409, 403, 403, 403, 401, 401, 401, 401)),
}
ADMIN_ONLY = (201, 403, 403, 403, 403, 401, 401, 401, 401)
REVIEWERS = (200, 200, 403, 403, 403, 401, 401, 401, 401)
SERVICE_MATRIX = {
    "health": ("GET", "/health", None, (200,) * 9),
    "summary": ("GET", "/api/v1/reports/summary", None, OPEN),
    "summary with submissions": ("GET", "/api/v1/reports/summary?include=submitted", None,
                                 REVIEWERS),
    "districts": ("GET", "/api/v1/reports/districts", None, OPEN),
    "districts with submissions": ("GET", "/api/v1/reports/districts?include=submitted", None,
                                   REVIEWERS),
    "timeseries": ("GET", "/api/v1/reports/timeseries?from=2021-01-01", None, OPEN),
    "baselines": ("GET", "/api/v1/baselines", None, OPEN),
    "add a baseline": ("POST", "/api/v1/baselines",
                       {"label": "survey", "as_of": "2021-01-01", "area_km2": 10}, ADMIN_ONLY),
}


def place() -> dict:
    """Return a square inside Azerbaijan in an accounting grid cell of its own (fast refresh)."""
    n = next(_places)
    return square(46.7 + 0.06 * (n % 12), 39.8 + 0.06 * (n // 12 % 12))


def stored(engine, kind: str, state: str) -> int:
    """Store a fresh record of HALO, approved (an admin's) or submitted (HALO's operator's)."""
    with transaction(engine) as conn:
        halo = conn.execute(text("SELECT id FROM organisations WHERE name = 'HALO'")).scalar_one()
        role = Role.admin if state == "approved" else Role.operator
        actor = tokens.Principal(None, "matrix", role, halo, "HALO")
        feature = json.loads(json.dumps(FEATURES[kind](place(), organisation="HALO")))
        [record_id], _ = write.create(conn, KINDS[kind], [feature], actor=actor,
                                      today=date.today(), outline=districts.outline(conn, 5000))
    return record_id


@pytest.fixture
def callers(settings, engine, units, caplog):
    """Yield, per caller, an httpx client of the right server with the right credentials."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # every statement and its values
    issued = issue_tokens(engine)
    closed = settings.model_copy(update={"public_read": False})
    with serving(create_app(settings)) as open_url, serving(create_app(closed)) as closed_url:
        headers = {"admin": bearer(issued["admin"]), "reviewer": bearer(issued["reviewer"]),
                   "op_own": bearer(issued["operator"]), "op_other": bearer(issued["other"]),
                   "viewer": bearer(issued["viewer"]), "anon_public": {}, "anon_private": {},
                   "revoked": bearer(issued["revoked"]),
                   "malformed": {"Authorization": MALFORMED}}
        clients = {who: httpx.Client(base_url=closed_url if who == "anon_private" else open_url,
                                     headers=headers[who], timeout=60) for who in CALLERS}
        yield clients, issued
        for client in clients.values():
            client.close()


def test_every_endpoint_for_every_caller(callers, engine, caplog):
    clients, issued = callers
    seen = {}
    for kind in KINDS:
        for name, (method, path, state, body, expected) in RECORD_MATRIX.items():
            for who, status in zip(CALLERS, expected):
                url = f"/api/v1/{kind}" + path.format(id=stored(engine, kind, state)
                                                      if state else 0)
                headers = {"If-Match": "*"} if method in ("PATCH", "DELETE") else {}
                if body == "feature":
                    body_json = FEATURES[kind](place(), organisation="HALO")
                elif isinstance(body, str):  # a change, with or without If-Match
                    body_json = {"properties": {"description": f"by {who}"}}
                    headers = {} if "no If-Match" in body else headers
                else:
                    body_json = body
                response = clients[who].request(method, url, json=body_json, headers=headers)
                seen[(kind, name, who)] = (response.status_code, status)
    for name, (method, path, body, expected) in SERVICE_MATRIX.items():
        for who, status in zip(CALLERS, expected):
            response = clients[who].request(method, path, json=body)
            seen[("service", name, who)] = (response.status_code, status)
    wrong = {cell: got for cell, got in seen.items() if got[0] != got[1]}
    assert not wrong, f"(got, expected) per (kind, endpoint, caller): {wrong}"
    assert len(seen) == 2 * len(RECORD_MATRIX) * 9 + len(SERVICE_MATRIX) * 9

    # Every request was logged, by uvicorn and the app, and no token with it.
    names = {r.name for r in caplog.records}
    assert {"uvicorn.access", "sqlalchemy.engine.Engine"} <= names, "logs were not captured"
    logged = caplog.text
    for token in issued.values():
        assert token not in logged and token[3:] not in logged
    assert MALFORMED.split(" ", 1)[1] not in logged


def test_cors_is_closed_unless_configured(settings):
    preflight = {"Origin": "https://maps.example.org", "Access-Control-Request-Method": "PATCH",
                 "Access-Control-Request-Headers": "authorization,if-match"}
    with TestClient(create_app(settings)) as closed:
        for response in (closed.options("/api/v1/hazards/1", headers=preflight),
                         closed.get("/api/v1/hazards", headers={"Origin": preflight["Origin"]})):
            assert "access-control-allow-origin" not in response.headers
    allowed = settings.model_copy(update={"cors_origins": ["https://maps.example.org"]})
    with TestClient(create_app(allowed)) as open_:
        response = open_.options("/api/v1/hazards/1", headers=preflight)
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://maps.example.org"
        assert "PATCH" in response.headers["access-control-allow-methods"]
        simple = open_.get("/api/v1/hazards", headers={"Origin": preflight["Origin"]})
        assert simple.headers["access-control-allow-origin"] == "https://maps.example.org"
        assert "etag" in simple.headers["access-control-expose-headers"].lower()
        other = open_.options("/api/v1/hazards/1", headers=preflight | {
            "Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in other.headers


HOSTILE = ("'; DROP TABLE hazards; --", "1 OR 1=1", "../../etc/passwd",
           "<script>alert(1)</script>", "\x00")
QUERIES = {
    "/api/v1/hazards": ("bbox", "district", "organisation", "review", "classification",
                        "status", "limit", "offset", "colour"),
    "/api/v1/releases": ("bbox", "district", "organisation", "review", "method", "hazard",
                         "limit", "offset"),
    "/api/v1/hazards/{id}": ("at",),
    "/api/v1/reports/summary": ("as_of", "format", "include"),
    "/api/v1/reports/districts": ("as_of", "format", "include"),
    "/api/v1/reports/timeseries?from=2021-01-01": ("to", "interval", "format", "include"),
}
TABLES = ("hazards", "releases", "history", "organisations", "tokens", "baselines", "districts")
FREE_TEXT = {"code", "description"}  # any text is a legitimate value here: kept verbatim


def test_hostile_strings_are_refused_and_change_nothing(client, engine, units):
    issued = issue_tokens(engine)
    admin, operator = bearer(issued["admin"]), bearer(issued["operator"])
    target = client.post("/api/v1/hazards", json=hazard(organisation="HALO"), headers=admin)
    assert target.status_code == 201
    counts = {table: count(engine, table) for table in TABLES}

    for path, names in QUERIES.items():
        url = path.format(id=target.json()["id"])
        for name in names:
            for value in HOSTILE:
                response = client.get(url, params={name: value}, headers=admin)
                assert 400 <= response.status_code < 500, (url, name, value, response.text)
    for value in HOSTILE:
        response = client.get(f"/api/v1/hazards/{quote(value, safe='')}", headers=admin)
        assert 400 <= response.status_code < 500, value
    assert {table: count(engine, table) for table in TABLES} == counts

    kept = []
    # Releases first: a hazard code kept verbatim ("../../etc/passwd" is a valid code) would
    # make a release naming it valid.
    for kind, kind_of in reversed(KINDS.items()):
        for name in kind_of.inputs:
            for value in HOSTILE:
                feature = FEATURES[kind]()
                feature["properties"][name] = value
                response = client.post(f"/api/v1/{kind}", json=feature, headers=operator)
                if name in FREE_TEXT and response.status_code == 201:
                    assert response.json()["properties"][name] == value
                    kept.append(kind)
                else:
                    assert 400 <= response.status_code < 500, (kind, name, value)
                    assert response.headers["content-type"] == "application/problem+json"
    assert kept, "no free text was stored, so the verbatim check proved nothing"
    after = {table: count(engine, table) for table in TABLES}
    assert after == counts | {"hazards": counts["hazards"] + kept.count("hazards"),
                              "releases": counts["releases"] + kept.count("releases"),
                              "history": counts["history"] + len(kept)}
