"""The service shell: /health in-process and from a real `minemap serve` process."""

import os
import socket
import subprocess
import sys
import time

import httpx

from minemap.app import create_app
from minemap.db.engine import transaction
from minemap.settings import Settings
from minemap.store import districts


def test_health_reports_postgis_version_and_the_units_loaded(client, engine):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    # A fresh database serves, but cannot report until its units are loaded.
    assert body["status"] == "degraded" and body["database"] == "ok"
    assert body["districts"] == 0 and "minemap districts load" in body["detail"]
    assert body["postgis"].split(".")[0] == "3"
    with transaction(engine) as conn:
        districts.load(conn)
    body = client.get("/health").json()
    assert (body["status"], body["districts"]) == ("ok", 78) and "detail" not in body


def test_health_is_503_when_the_database_is_unreachable(tmp_path):
    from fastapi.testclient import TestClient

    url = f"postgresql://nobody@/nothing?host={tmp_path}&port=1"
    with TestClient(create_app(Settings(database_url=url, _env_file=None))) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_openapi_and_docs_are_served(client):
    assert client.get("/openapi.json").json()["info"]["title"] == "minemap"
    assert client.get("/docs").status_code == 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_minemap_serve_answers_health_over_http(database_url):
    port = free_port()
    env = {**os.environ, "MINEMAP_DATABASE_URL": database_url}
    server = subprocess.Popen(
        [sys.executable, "-m", "minemap", "serve", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.json()["database"] == "ok"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_root_is_the_map_and_leads_to_the_layers(client):
    response = client.get("/", headers={"Accept": "text/html"})
    assert response.status_code == 200 and str(response.url).endswith("/")
    assert "text/html" in response.headers["content-type"]
    assert 'href="/ogc"' in response.text and 'id="map"' in response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]
