"""Hostile field files: each is refused with a 4xx problem report naming the feature and the
reason, and the tables keep exactly the rows they had. The files are generated here."""

import asyncio
import json
import math
import os
import random
import shutil
import subprocess
import sys
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping
from sqlalchemy import text
from starlette.requests import Request

from minemap.api.imports import receive
from minemap.app import create_app
from minemap.db.engine import transaction
from minemap.errors import PayloadTooLarge
from minemap.store import districts, tokens
from minemap.vocab import Role

pytestmark = pytest.mark.skipif(shutil.which("ogr2ogr") is None, reason="needs GDAL's ogr2ogr")

ROOT = Path(__file__).parents[1]
TABLES = ("hazards", "releases", "history", "organisations")
PROBLEM = "application/problem+json"
LOADED = ("AZ-AGM",)  # Aghdam holds every good polygon below
FUTURE = (date.today() + timedelta(days=30)).isoformat()


def square(lon: float = 46.90, lat: float = 40.01, half: float = 0.004) -> dict:
    return mapping(box(lon - half, lat - half, lon + half, lat + half))


def hazard(geometry: dict | None = None, **properties) -> dict:
    return {"type": "Feature", "geometry": geometry or square(),
            "properties": {"classification": "SHA", "hazard_types": "AP",
                           "recorded_on": "2021-03-01"} | properties}


def release(geometry: dict | None = None, **properties) -> dict:
    return {"type": "Feature", "geometry": geometry or square(half=0.002),
            "properties": {"method": "cleared", "hazard": "HZ-1", "started_on": "2022-01-01",
                           "completed_on": "2022-02-01"} | properties}


def collection(path: Path, *features: dict) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": list(features)}))
    return path


def ogr2ogr(*args) -> None:
    subprocess.run(["ogr2ogr", *map(str, args)], check=True, capture_output=True)


def shapefile_parts(folder: Path) -> Path:
    """Write a good hazard as a shapefile in UTM 38N; return the .shp."""
    source = collection(folder / "one.geojson", hazard(code="SHP-1"))
    shp = folder / "shp" / "hazards.shp"
    shp.parent.mkdir()
    ogr2ogr("-f", "ESRI Shapefile", "-t_srs", "EPSG:32638", shp, source)
    return shp


def circle(vertices: int) -> dict:
    ring = [[46.90 + 0.01 * math.cos(2 * math.pi * i / vertices),
             40.01 + 0.01 * math.sin(2 * math.pi * i / vertices)] for i in range(vertices)]
    return {"type": "Polygon", "coordinates": [ring + ring[:1]]}


def build_corpus(folder: Path) -> dict[str, Path]:
    files = {}
    files["garbage"] = folder / "hazards.gpkg"
    files["garbage"].write_bytes(random.Random(1).randbytes(20_000))

    shp = shapefile_parts(folder)
    whole = folder / "whole.zip"
    with zipfile.ZipFile(whole, "w", zipfile.ZIP_DEFLATED) as archive:
        for ext in (".shp", ".shx", ".dbf", ".prj"):
            archive.write(shp.with_suffix(ext), f"hazards{ext}")
    files["truncated archive"] = folder / "truncated.zip"
    files["truncated archive"].write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    files["shapefile without .prj"] = folder / "noprj.zip"
    with zipfile.ZipFile(files["shapefile without .prj"], "w", zipfile.ZIP_DEFLATED) as archive:
        for ext in (".shp", ".shx", ".dbf"):
            archive.write(shp.with_suffix(ext), f"hazards{ext}")

    good = hazard(code="GOOD-1", organisation="Brand New Org")  # never stored, nor its org
    swapped = square(40.01, 46.90)
    files["swapped coordinates"] = collection(folder / "swapped.geojson", good, hazard(swapped))
    files["far outside Azerbaijan"] = collection(folder / "paris.geojson", good,
                                                 hazard(square(2.35, 48.85)))
    bow_tie = {"type": "Polygon", "coordinates": [[[46.90, 40.00], [46.92, 40.02],
                                                   [46.92, 40.00], [46.90, 40.02],
                                                   [46.90, 40.00]]]}
    files["bow-tie"] = collection(folder / "bowtie.geojson", good, hazard(bow_tie))
    files["points"] = collection(folder / "points.geojson", good, hazard(
        {"type": "Point", "coordinates": [46.9, 40.01]}))
    files["empty geometries"] = collection(
        folder / "empty.geojson", good, hazard({"type": "Polygon", "coordinates": []}),
        {"type": "Feature", "properties": hazard()["properties"], "geometry": None})
    files["over 100,000 vertices"] = collection(folder / "vertices.geojson", good,
                                                hazard(circle(100_001)))
    files["future date"] = collection(folder / "future.geojson", good,
                                      hazard(square(46.92), recorded_on=FUTURE))
    files["wrong enum values"] = collection(
        folder / "enums.geojson", good, hazard(square(46.92), classification="XHA"),
        hazard(square(46.94), hazard_types="AP,MINE"))
    files["duplicate codes in the file"] = collection(
        folder / "twice.geojson", hazard(code="D-1"), hazard(square(46.92), code="D-1"))

    files["completion before start"] = collection(
        folder / "dates.geojson", release(), release(started_on="2022-03-01",
                                                     completed_on="2022-02-01"))
    files["unknown hazard code"] = collection(folder / "unknown.geojson", release(),
                                              release(hazard="HZ-404"))
    files["wrong release method"] = collection(folder / "method.geojson", release(),
                                               release(method="demined"))

    # 50 MB of zeros packed into 50 kB: past the archive's expansion ratio.
    files["zip bomb"] = folder / "bomb.zip"
    with zipfile.ZipFile(files["zip bomb"], "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("hazards.geojson", "w") as member:
            for _ in range(50):
                member.write(bytes(1024 * 1024))
    files["hazard"] = collection(folder / "hz1.geojson", hazard(code="HZ-1"))
    return files


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    return build_corpus(tmp_path_factory.mktemp("hostile"))


@pytest.fixture
def admin(engine, tmp_path) -> dict:
    """Aghdam loaded and an admin token of ANAMA: the Authorization header."""
    every = json.loads((ROOT / "data/districts/azerbaijan_districts.geojson").read_text())
    subset = [f for f in every["features"] if f["properties"]["iso_3166_2"] in LOADED]
    path = collection(tmp_path / "districts.geojson", *subset)
    with transaction(engine) as conn:
        districts.load(conn, path)
        _, token = tokens.create(conn, organisation="ANAMA", role=Role.admin)
    return {"Authorization": f"Bearer {token}"}


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def upload(client, headers: dict, path: Path, kind: str = "hazards", **fields):
    with path.open("rb") as file:
        return client.post("/api/v1/imports", headers=headers,
                           files={"file": (path.name, file)}, data={"kind": kind, **fields})


def refused(response, status: int) -> set[tuple]:
    """Check a problem report; return its (index, code) pairs, each with a reason."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert all(error["reason"] for error in body["errors"])
    return {(error["index"], error["code"]) for error in body["errors"]}


CASES = [  # (file, kind, HTTP status, the problems it must name)
    ("garbage", "hazards", 422, {(None, "unreadable_file")}),
    ("truncated archive", "hazards", 422, {(None, "unreadable_file")}),
    ("shapefile without .prj", "hazards", 422, {(None, "missing_crs")}),
    ("swapped coordinates", "hazards", 422, {(1, "lat_lon_swapped")}),
    ("far outside Azerbaijan", "hazards", 422, {(1, "outside_azerbaijan")}),
    ("bow-tie", "hazards", 422, {(1, "self_intersection")}),
    ("points", "hazards", 422, {(1, "not_polygon")}),
    ("empty geometries", "hazards", 422, {(1, "empty_geometry"), (2, "missing_geometry")}),
    ("over 100,000 vertices", "hazards", 422, {(1, "too_many_vertices")}),
    ("future date", "hazards", 422, {(1, "future_date")}),
    ("wrong enum values", "hazards", 422, {(1, "invalid_enum"), (2, "invalid_enum")}),
    ("duplicate codes in the file", "hazards", 422, {(1, "duplicate_code")}),
    ("completion before start", "releases", 422, {(1, "completed_before_started")}),
    ("unknown hazard code", "releases", 422, {(1, "unknown_hazard")}),
    ("wrong release method", "releases", 422, {(1, "invalid_enum")}),
    ("zip bomb", "hazards", 413, {(None, "archive_too_large")}),
]


@pytest.mark.parametrize(("name", "kind", "status", "problems"), CASES,
                         ids=[case[0] for case in CASES])
def test_hostile_file_is_refused_and_nothing_stored(client, engine, admin, corpus, name, kind,
                                                    status, problems):
    if kind == "releases":  # the good release works on HZ-1
        assert upload(client, admin, corpus["hazard"]).status_code == 201
    before = counts(engine)
    for dry_run in ("false", "true"):
        response = upload(client, admin, corpus[name], kind, dry_run=dry_run)
        assert refused(response, status) == problems
        assert counts(engine) == before


def test_resending_an_imported_file_is_refused_not_doubled(client, engine, admin, corpus):
    path = corpus["hazard"]
    assert upload(client, admin, path).status_code == 201
    before = counts(engine)
    assert refused(upload(client, admin, path), 422) == {(0, "duplicate_code")}
    assert counts(engine) == before
    with engine.connect() as conn:
        assert conn.execute(text("SELECT code FROM hazards")).scalars().all() == ["HZ-1"]


def multipart(path: Path, boundary: str = "minemap-test-boundary") -> tuple[dict, bytes, bytes]:
    """Return the content type, the head (kind and the file's part headers) and the tail."""
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nhazards\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{path.name}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
    return ({"Content-Type": f"multipart/form-data; boundary={boundary}"}, head.encode(),
            f"\r\n--{boundary}--\r\n".encode())


def test_a_file_over_the_upload_limit_is_refused(settings, engine, admin, tmp_path):
    small = settings.model_copy(update={"max_upload_mb": 1})
    path = collection(tmp_path / "big.geojson", *[
        hazard(square(46.9 + i * 1e-4), description="x" * 500) for i in range(2000)])
    assert path.stat().st_size > 1024 * 1024
    before = counts(engine)
    with TestClient(create_app(small)) as client:
        # Refused by its declared Content-Length, before the body is read...
        assert refused(upload(client, admin, path), 413) == {(None, "file_too_large")}
        # ...and, sent in chunks without one, by the bytes received.
        headers, head, tail = multipart(path)
        body = head + path.read_bytes() + tail
        chunks = (body[i:i + 65536] for i in range(0, len(body), 65536))
        response = client.post("/api/v1/imports", headers=admin | headers, content=chunks)
        assert refused(response, 413) == {(None, "file_too_large")}
    assert counts(engine) == before


def test_an_upload_stops_being_read_once_past_the_limit(tmp_path):
    """The stream is read no further than the limit, and no more than it is written to disk."""
    folder = tmp_path / "upload"
    folder.mkdir()
    headers, head, _ = multipart(Path("big.geojson"))
    messages = [head] + [b"x" * 65536] * 100  # 6.4 MB, never ending, against 1 MB
    taken = 0

    async def stream():
        nonlocal taken
        taken += 1
        return {"type": "http.request", "body": messages[taken - 1], "more_body": True}

    scope = {"type": "http", "method": "POST", "path": "/api/v1/imports", "query_string": b"",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    with pytest.raises(PayloadTooLarge):
        asyncio.run(receive(Request(scope, stream), folder, 1024 * 1024))
    assert taken <= 1 + 1024 * 1024 // 65536 + 2
    assert (folder / "big.geojson").stat().st_size <= 1024 * 1024


def test_malformed_forms_are_refused(client, engine, admin, corpus):
    path = corpus["hazard"]
    before = counts(engine)
    assert refused(upload(client, admin, path, kind="mines"), 422) == {(None, "invalid_enum")}
    assert refused(upload(client, admin, path, dry_run="maybe"), 422) == {
        (None, "invalid_value")}
    no_kind = client.post("/api/v1/imports", headers=admin,
                          files={"file": (path.name, path.read_bytes())})
    assert refused(no_kind, 422) == {(None, "missing_property")}
    no_file = client.post("/api/v1/imports", headers=admin, data={"kind": "hazards"},
                          files={"other": ("x.txt", b"x", "text/plain")})
    assert refused(no_file, 422) == {(None, "invalid_form")}
    assert refused(client.post("/api/v1/imports", headers=admin, json={"kind": "hazards"}),
                   422) == {(None, "invalid_form")}
    assert counts(engine) == before


def test_the_command_line_gives_the_same_verdicts(client, engine, admin, corpus, database_url):
    before = counts(engine)
    for name in ("shapefile without .prj", "wrong enum values"):
        verdict = refused(upload(client, admin, corpus[name]), 422)
        proc = subprocess.run(
            [sys.executable, "-m", "minemap", "import", str(corpus[name]), "--kind", "hazards",
             "--org", "ANAMA"], capture_output=True, text=True, timeout=120,
            env={**os.environ, "MINEMAP_DATABASE_URL": database_url, "COLUMNS": "200"})
        assert proc.returncode == 1, proc.stdout + proc.stderr
        rejected = proc.stdout.split("Warnings (")[0]  # the table of rejections comes first
        cells = [[cell.strip() for cell in line.split("│")[1:3]]
                 for line in rejected.splitlines() if line.startswith("│")]
        rows = {tuple(row) for row in cells if row[1]}  # not a reason's continued lines
        assert rows == {("–" if index is None else str(index), code) for index, code in verdict}
        assert "rejected" in proc.stderr
    assert counts(engine) == before
