"""schemathesis over the whole API, against a real running server: no server errors.

Every operation of /openapi.json (the API, /health, OGC API) and of /ogc/api is called with
generated valid and invalid inputs as an admin; the run is bounded and seeded, so a failure
is reproducible with the command it prints.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from minemap.app import create_app
from minemap.db.engine import transaction
from minemap.store import tokens
from minemap.vocab import Role
from serving import serving

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
EXAMPLES = os.environ.get("MINEMAP_FUZZ_EXAMPLES", "25")


def fuzz(schema_url: str, token: str, report: Path) -> subprocess.CompletedProcess:
    # One worker: two threads of schemathesis can trip CPython 3.11's parser ("AST
    # constructor recursion depth mismatch"). In the report's folder: schemathesis caches
    # past failures in its working directory, and replaying them would tie a run to the last.
    report.mkdir(parents=True)
    return subprocess.run(
        [str(SCHEMATHESIS), "run", schema_url, "--checks", "not_a_server_error",
         "--header", f"Authorization: Bearer {token}", "--max-examples", EXAMPLES,
         "--seed", "9", "--generation-database", "none", "--workers", "1",
         "--request-timeout", "60", "--no-color", "--suppress-health-check", "all",
         "--report", "junit", "--report-dir", str(report)],
        capture_output=True, text=True, timeout=900, cwd=report,
        env={**os.environ, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"})


def seed(base: str, token: str) -> None:
    """A record of each kind, a baseline and an import, so generated ids 1 and 2 find some."""
    auth = {"Authorization": f"Bearer {token}"}
    square = {"type": "Polygon", "coordinates": [[[46.90, 40.00], [46.91, 40.00],
                                                  [46.91, 40.01], [46.90, 40.01], [46.90, 40.00]]]}
    with httpx.Client(base_url=base, headers=auth, trust_env=False, timeout=60) as http:
        for kind, props in (("hazards", {"classification": "SHA", "hazard_types": ["AP"],
                                         "recorded_on": "2022-01-01"}),
                            ("releases", {"method": "cleared", "completed_on": "2022-06-01"})):
            made = http.post(f"/api/v1/{kind}", json={"type": "Feature", "geometry": square,
                                                      "properties": props})
            assert made.status_code == 201, made.text
        assert http.post("/api/v1/baselines", json={
            "label": "survey", "as_of": "2021-01-01", "area_km2": 1000}).status_code == 201
        survey = json.dumps({"type": "FeatureCollection", "features": [{
            "type": "Feature", "geometry": square, "properties": {
                "code": "FUZZ-1", "classification": "CHA", "hazard_types": "AT",
                "recorded_on": "2022-02-01"}}]})
        assert http.post("/api/v1/imports", data={"kind": "hazards"}, files={
            "file": ("survey.geojson", survey.encode())}).status_code == 201


def test_no_generated_request_is_a_server_error(settings, engine, units, tmp_path):
    assert SCHEMATHESIS.exists(), "schemathesis is a test dependency: make setup installs it"
    with transaction(engine) as conn:
        _, token = tokens.create(conn, organisation="ANAMA", role=Role.admin)
    with serving(create_app(settings), log_level="warning") as base:
        seed(base, token)
        for schema in ("/openapi.json", "/ogc/api"):
            done = fuzz(base + schema, token, tmp_path / schema.strip("/").replace("/", "-"))
            assert done.returncode == 0, f"{schema}:\n{done.stdout[-12000:]}\n{done.stderr[-2000:]}"
