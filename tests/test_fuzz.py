"""schemathesis over the whole API, against a real running server: no server errors.

Every operation of /openapi.json (the API, /health, OGC API) and of /ogc/api is called with
generated valid and invalid inputs as an admin; the run is bounded and seeded, so a failure
is reproducible with the command it prints.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis is not installed")
def test_no_generated_request_is_a_server_error(settings, engine, units, tmp_path):
    with transaction(engine) as conn:
        _, token = tokens.create(conn, organisation="ANAMA", role=Role.admin)
    with serving(create_app(settings), log_level="warning") as base:
        for schema in ("/openapi.json", "/ogc/api"):
            done = fuzz(base + schema, token, tmp_path / schema.strip("/").replace("/", "-"))
            assert done.returncode == 0, f"{schema}:\n{done.stdout[-12000:]}\n{done.stderr[-2000:]}"
