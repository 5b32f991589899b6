"""Bearer tokens and roles on /api/v1: 401 without a valid token, 403 outside one's role."""

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from minemap.app import create_app
from minemap.db.engine import transaction
from minemap.store import tokens
from minemap.vocab import Role

PROBLEM = "application/problem+json"
HAZARD = {
    "type": "Feature",
    "properties": {"classification": "CHA", "hazard_types": ["AT"], "recorded_on": "2021-06-01"},
    "geometry": {"type": "Polygon", "coordinates": [[
        [46.896, 40.006], [46.904, 40.006], [46.904, 40.014], [46.896, 40.014], [46.896, 40.006]]]},
}


@pytest.fixture
def issued(engine, units) -> dict:
    """Tokens by name: one per role (ANAMA; the operator is HALO's) and a revoked admin token."""
    with transaction(engine) as conn:
        made = {role.value: tokens.create(conn, organisation="HALO" if role is Role.operator
                                          else "ANAMA", role=role) for role in Role}
        revoked_id, made_revoked = tokens.create(conn, organisation="ANAMA", role=Role.admin)
        tokens.revoke(conn, revoked_id)
    return {name: token for name, (_, token) in made.items()} | {"revoked": made_revoked}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def hazards_stored(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM hazards")).scalar_one()


def assert_unauthorized(response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Basic YWRtaW46YWRtaW4="},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer mm_not-a-token"},
])
def test_writes_without_a_valid_token_are_401(client, engine, issued, headers):
    assert_unauthorized(client.post("/api/v1/hazards", json=HAZARD, headers=headers))
    assert_unauthorized(client.post("/api/v1/baselines", headers=headers, json={
        "label": "x", "as_of": "2021-01-01", "area_km2": 1}))
    assert hazards_stored(engine) == 0


def test_a_revoked_token_is_401(client, engine, issued):
    revoked = bearer(issued["revoked"])
    assert_unauthorized(client.post("/api/v1/hazards", json=HAZARD, headers=revoked))
    assert_unauthorized(client.get("/api/v1/hazards", headers=revoked))
    assert hazards_stored(engine) == 0


def test_viewers_read_but_do_not_write(client, engine, issued):
    response = client.post("/api/v1/hazards", json=HAZARD, headers=bearer(issued["viewer"]))
    assert response.status_code == 403 and response.headers["content-type"] == PROBLEM
    assert client.get("/api/v1/hazards", headers=bearer(issued["viewer"])).status_code == 200
    assert hazards_stored(engine) == 0


def test_operators_write_only_for_their_own_organisation(client, engine, issued):
    other = HAZARD | {"properties": HAZARD["properties"] | {"organisation": "ANAMA"}}
    response = client.post("/api/v1/hazards", json=other, headers=bearer(issued["operator"]))
    assert response.status_code == 403 and "HALO" in response.json()["detail"]
    assert hazards_stored(engine) == 0
    own = client.post("/api/v1/hazards", json=HAZARD, headers=bearer(issued["operator"]))
    assert own.status_code == 201 and own.json()["properties"]["organisation"] == "HALO"
    # Reviewers and admins write for any organisation, and are approved at once.
    theirs = HAZARD | {"properties": HAZARD["properties"] | {"organisation": "HALO"}}
    reviewed = client.post("/api/v1/hazards", json=theirs, headers=bearer(issued["reviewer"]))
    assert reviewed.status_code == 201
    assert reviewed.json()["properties"]["review"] == "approved"


def test_only_admins_add_baselines(client, issued, units):
    baseline = {"label": "survey", "as_of": "2021-01-01", "area_km2": 10}
    for role in ("reviewer", "operator", "viewer"):
        response = client.post("/api/v1/baselines", json=baseline, headers=bearer(issued[role]))
        assert response.status_code == 403, role
    assert client.post("/api/v1/baselines", json=baseline,
                       headers=bearer(issued["admin"])).status_code == 201


def test_anonymous_reads_follow_public_read(client, settings, issued):
    assert client.get("/api/v1/hazards").status_code == 200
    assert client.get("/api/v1/baselines").status_code == 200
    # A token that is sent must be valid, even where none is needed.
    assert_unauthorized(client.get("/api/v1/hazards", headers=bearer("mm_wrong")))

    private = settings.model_copy(update={"public_read": False})
    with TestClient(create_app(private)) as closed:
        assert_unauthorized(closed.get("/api/v1/hazards"))
        assert_unauthorized(closed.get("/api/v1/releases/1"))
        assert_unauthorized(closed.get("/api/v1/baselines"))
        assert closed.get("/api/v1/hazards", headers=bearer(issued["viewer"])).status_code == 200


def test_tokens_are_never_logged(client, issued, caplog):
    caplog.set_level(logging.DEBUG)
    client.get("/api/v1/hazards", headers=bearer(issued["viewer"]))
    client.post("/api/v1/hazards", json=HAZARD, headers=bearer(issued["revoked"]))
    assert caplog.records, "nothing was logged, so the test proves nothing"
    assert issued["viewer"] not in caplog.text and issued["revoked"] not in caplog.text
