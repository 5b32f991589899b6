"""A slow upload holds no database transaction: the import's opens once the file is on disk.

A real server receives a multipart body sent in two parts; between them, the file is being
written to disk, and pg_stat_activity shows no connection of the service in a transaction.
A caller who may not import hears so before the body is read.
"""

import http.client
import json
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import text

from minemap.app import create_app
from minemap.db.engine import transaction
from minemap.store import tokens
from minemap.vocab import Role
from serving import serving

BOUNDARY = "minemap-slow-upload"


def hazards_file(path: Path) -> Path:
    ring = [[46.90, 40.00], [46.91, 40.00], [46.91, 40.01], [46.90, 40.01], [46.90, 40.00]]
    feature = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
               "properties": {"code": "HZ-SLOW", "classification": "SHA",
                              "hazard_types": "AP", "recorded_on": "2021-03-01"}}
    padding = " " * 20_000  # enough bytes to stop in the middle of
    features = json.dumps([feature])
    path.write_text(f'{{"type": "FeatureCollection",{padding}"features": {features}}}')
    return path


def body(path: Path) -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nhazards\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{path.name}\"\r\nContent-Type: application/geo+json\r\n\r\n"
            ).encode() + path.read_bytes() + f"\r\n--{BOUNDARY}--\r\n".encode()


def service_backends(engine) -> list[tuple[str, bool]]:
    """The state of each connection of the service to this test's database, and whether it
    is in a transaction."""
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(
            "SELECT state, xact_start IS NOT NULL FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'minemap'"))]


def start_upload(base: str, headers: dict, sent: bytes, part: int) -> http.client.HTTPConnection:
    """Send the request's headers and the first `part` bytes of its body."""
    url = urlsplit(base)
    client = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    client.putrequest("POST", "/api/v1/imports")
    for name, value in headers.items():
        client.putheader(name, value)
    client.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
    client.putheader("Content-Length", str(len(sent)))
    client.endheaders()
    client.send(sent[:part])
    return client


def wait_for(found, what: str, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while not (result := found()):
        assert time.monotonic() < deadline, f"{what} did not happen"
        time.sleep(0.02)
    return result


def test_a_slow_upload_holds_no_transaction(settings, engine, units, tmp_path, monkeypatch):
    with transaction(engine) as conn:
        _, token = tokens.create(conn, organisation="ANAMA", role=Role.admin)
    spool = tmp_path / "spool"  # where the service writes uploads, to watch it happen
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    path = hazards_file(tmp_path / "slow.geojson")
    sent = body(path)
    half = sent.index(b" " * 100) + 10_000  # in the middle of the file's part

    with serving(create_app(settings), log_level="warning") as base:
        client = start_upload(base, {"Authorization": f"Bearer {token}"}, sent, half)
        # The token has been looked up and the file part has begun: the upload is under way.
        wait_for(lambda: list(spool.glob(f"minemap-upload-*/{path.name}")), "the spooling")
        during = service_backends(engine)
        client.send(sent[half:])
        response = client.getresponse()
        report = json.loads(response.read())
        client.close()
        after = service_backends(engine)

    assert during, "the service looked the token up, so it has a connection"
    assert all(not in_transaction for _, in_transaction in during), during
    assert {state for state, _ in during} == {"idle"}
    assert response.status == 201, report
    assert report["features_read"] == report["accepted"] == 1 and len(report["created"]) == 1
    assert not any(in_transaction for _, in_transaction in after), after
    with engine.connect() as conn:
        assert conn.execute(text("SELECT code FROM hazards")).scalars().all() == ["HZ-SLOW"]
        assert conn.execute(text("SELECT count(*) FROM imports")).scalar_one() == 1


def test_an_upload_is_refused_before_its_body_when_the_caller_may_not_import(
        settings, engine, tmp_path):
    with transaction(engine) as conn:
        _, viewer = tokens.create(conn, organisation="ANAMA", role=Role.viewer)
    sent = body(hazards_file(tmp_path / "refused.geojson"))
    cases = [({}, 401, "needs a token"), ({"Authorization": "Bearer nonsense"}, 401, "unknown"),
             ({"Authorization": f"Bearer {viewer}"}, 403, "viewer token may not")]
    with serving(create_app(settings), log_level="warning") as base:
        for headers, status, said in cases:
            # Most of the body is never sent: the answer comes without it.
            client = start_upload(base, headers, sent, 200)
            response = client.getresponse()
            problem = json.loads(response.read())
            client.close()
            assert response.status == problem["status"] == status, problem
            assert response.getheader("content-type") == "application/problem+json"
            assert said in problem["detail"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM imports")).scalar_one() == 0
