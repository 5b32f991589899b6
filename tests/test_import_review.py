"""Imports are recorded, listed and reviewed as a whole: one call decides every record.

Each record's state is read back one by one through its own routes, and the file's size and
digest are computed here with hashlib.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from shapely.geometry import box, mapping
from sqlalchemy import text

from minemap.db.engine import transaction
from minemap.store import districts, tokens
from minemap.vocab import Role

ROOT = Path(__file__).parents[1]
UNITS = json.loads((ROOT / "data/districts/azerbaijan_districts.geojson").read_text())
CALLERS = {"admin": ("ANAMA", Role.admin), "reviewer": ("ANAMA", Role.reviewer),
           "halo": ("HALO", Role.operator), "mag": ("MAG", Role.operator),
           "viewer": ("ANAMA", Role.viewer)}


class World:
    def __init__(self, client, engine, tmp_path):
        aghdam = [f for f in UNITS["features"] if f["properties"]["iso_3166_2"] == "AZ-AGM"]
        path = tmp_path / "aghdam.geojson"
        path.write_text(json.dumps({"type": "FeatureCollection", "features": aghdam}))
        with transaction(engine) as conn:
            districts.load(conn, path)
            self.tokens = {name: tokens.create(conn, organisation=org, role=role)[1]
                           for name, (org, role) in CALLERS.items()}
        self.client, self.engine, self.tmp_path = client, engine, tmp_path

    def auth(self, who: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def survey(self, n: int, name: str = "survey.geojson") -> Path:
        """A field file of `n` hazards inside Aghdam."""
        path = self.tmp_path / name
        path.write_text(json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": mapping(box(46.85 + i * 0.01, 40.0,
                                                        46.855 + i * 0.01, 40.005)),
             "properties": {"classification": "SHA", "hazard_types": "AP",
                            "recorded_on": "2022-04-01"}} for i in range(n)]}))
        return path

    def imported(self, path: Path, who: str = "halo") -> dict:
        with path.open("rb") as file:
            response = self.client.post("/api/v1/imports", headers=self.auth(who),
                                        files={"file": (path.name, file)},
                                        data={"kind": "hazards"})
        assert response.status_code == 201, response.text
        assert response.headers["location"].endswith(
            f"/api/v1/imports/{response.json()['import_id']}")
        return response.json()

    def hazard(self, hazard_id: int) -> dict:
        return self.client.get(f"/api/v1/hazards/{hazard_id}", headers=self.auth("admin")).json()

    def state(self) -> list:
        with self.engine.connect() as conn:
            return [conn.execute(text(f"SELECT * FROM {t} ORDER BY 1")).all()
                    for t in ("hazards", "history", "imports", "import_records")]


@pytest.fixture
def world(client, engine, tmp_path) -> World:
    return World(client, engine, tmp_path)


def test_an_import_is_recorded_listed_and_approved_in_one_call(world):
    path = world.survey(5)
    report = world.imported(path)
    created = report["created"]
    assert len(created) == 5 and report["import_id"]
    url = f"/api/v1/imports/{report['import_id']}"

    shown = world.client.get(url, headers=world.auth("halo")).json()
    data = path.read_bytes()
    assert shown["file"] == {"name": "survey.geojson", "size": len(data),
                             "sha256": hashlib.sha256(data).hexdigest()}
    assert (shown["kind"], shown["organisation"], shown["features_read"]) == ("hazards", "HALO", 5)
    assert shown["actor"] == "operator@HALO"
    assert shown["report"]["created"] == created
    assert [(r["id"], r["review"]) for r in shown["records"]] == [(i, "submitted")
                                                                    for i in created]
    listed = world.client.get("/api/v1/imports", headers=world.auth("reviewer")).json()
    assert [i["id"] for i in listed["imports"]] == [report["import_id"]]
    # Another organisation's operator sees neither the import nor its list entry.
    assert world.client.get(url, headers=world.auth("mag")).status_code == 404
    assert world.client.get("/api/v1/imports", headers=world.auth("mag")).json()["imports"] == []
    assert world.client.get(url, headers=world.auth("viewer")).status_code == 403
    assert world.client.get(url).status_code == 401

    # One record is edited by its operator after the import: it is named, not approved.
    edited = created[2]
    tag = world.client.get(f"/api/v1/hazards/{edited}", headers=world.auth("halo")).headers["etag"]
    assert world.client.patch(f"/api/v1/hazards/{edited}", headers=world.auth("halo") | {
        "If-Match": tag}, json={"properties": {"description": "moved the fence"}}
    ).status_code == 200

    done = world.client.post(f"{url}/review", headers=world.auth("reviewer"),
                             json={"decision": "approve"})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["decided"] == 4
    assert [(s["id"], s["kind"]) for s in body["skipped"]] == [(edited, "hazard")]
    assert "edited since the import" in body["skipped"][0]["reason"]
    for hazard_id in created:
        props = world.hazard(hazard_id)["properties"]
        assert props["review"] == ("submitted" if hazard_id == edited else "approved")
        entries = world.client.get(f"/api/v1/hazards/{hazard_id}/history",
                                   headers=world.auth("admin")).json()
        if hazard_id != edited:
            assert [e["action"] for e in entries] == ["create", "review"]
            assert entries[-1]["actor"] == "reviewer@ANAMA"
    # Approved hazards now count: the public summary maps them.
    assert world.client.get("/api/v1/reports/summary").json()["mapped_m2"] > 0

    # Deciding again decides nothing: four are decided, the edited one still needs its own.
    again = world.client.post(f"{url}/review", headers=world.auth("admin"),
                              json={"decision": "reject", "reason": "duplicate survey"}).json()
    assert again["decided"] == 0 and len(again["skipped"]) == 5
    assert sorted(s["reason"][:15] for s in again["skipped"]) == \
        ["already approve"] * 4 + ["edited since th"]
    assert world.hazard(edited)["properties"]["review"] == "submitted"


def test_refused_reviews_change_nothing(world):
    report = world.imported(world.survey(3))
    url = f"/api/v1/imports/{report['import_id']}/review"
    before = world.state()
    refused = [
        world.client.post(url, headers=world.auth("halo"), json={"decision": "approve"}),
        world.client.post(url, headers=world.auth("viewer"), json={"decision": "approve"}),
        world.client.post(url, headers=world.auth("reviewer"), json={"decision": "reject"}),
        world.client.post(url, headers=world.auth("reviewer"), json={"decision": "maybe"}),
        world.client.post(url, headers=world.auth("reviewer"),
                          json={"decision": "reject", "reason": "bad\u0000"}),
        world.client.post("/api/v1/imports/999/review", headers=world.auth("admin"),
                          json={"decision": "approve"}),
        world.client.post(f"/api/v1/imports/{2**70}/review", headers=world.auth("admin"),
                          json={"decision": "approve"}),
    ]
    with world.survey(1, "nul.geojson").open("rb") as file:
        refused.append(world.client.post("/api/v1/imports", headers=world.auth("admin"),
                                         files={"file": ("nul.geojson", file)},
                                         data={"kind": "hazards", "organisation": "MAG\u0000"}))
    assert [r.status_code for r in refused] == [403, 403, 422, 422, 422, 404, 404, 422]
    assert all(r.headers["content-type"] == "application/problem+json" for r in refused)
    assert world.client.get(f"/api/v1/imports/{2**70}", headers=world.auth("admin")
                            ).status_code == 404
    assert world.state() == before
    # Imports are append-only in the database too.
    with pytest.raises(Exception, match="append-only"), world.engine.begin() as conn:
        conn.execute(text("DELETE FROM import_records"))


def test_an_import_is_reviewed_from_the_command_line(world, database_url):
    report = world.imported(world.survey(2, "cli.geojson"))
    env = {**os.environ, "MINEMAP_DATABASE_URL": database_url}
    env.pop("MINEMAP_TOKEN", None)
    done = subprocess.run([sys.executable, "-m", "minemap", "review", "import",
                           str(report["import_id"]), "reject", "--reason", "wrong area"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"import {report['import_id']}: 2 records rejected" in done.stdout
    for hazard_id in report["created"]:
        props = world.hazard(hazard_id)["properties"]
        assert props["review"] == "rejected" and props["review_reason"] == "wrong area"
    missing = subprocess.run([sys.executable, "-m", "minemap", "review", "import", "999",
                              "approve"], env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "no import 999" in missing.stderr
