"""History: every create, update, review and delete appended with who, when, before and after.

A record can be read as it was at any time, and deleted records stay in history while leaving
the reports, whose figures are checked against shapely and pyproj.
"""

import datetime as dt

import pytest
from shapely.geometry import shape
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from test_review import (AGHDAM, INSIDE, Api, geodesic_area, hazard, release,  # noqa: F401
                         square, api)


def change(api: Api, url: str, who: str, body: dict):
    tag = api.client.get(url, headers=api.auth(who)).headers["etag"]
    response = api.client.patch(url, json=body, headers=api.auth(who) | {"If-Match": tag})
    assert response.status_code == 200, response.text
    return response.json()


def delete(api: Api, url: str, who: str = "admin") -> None:
    tag = api.client.get(url, headers=api.auth(who)).headers["etag"]
    response = api.client.delete(url, headers=api.auth(who) | {"If-Match": tag})
    assert response.status_code == 204, response.text


def same_shape(a: dict, b: dict) -> bool:
    return shape(a).symmetric_difference(shape(b)).area < 1e-14


def test_every_change_is_kept_with_its_geometry(api):
    first, moved = square(*INSIDE), square(INSIDE[0] + 0.01, INSIDE[1], half=0.003)
    made = api.created("hazards", hazard(first, description="v1"), who="operator")
    url = f"/api/v1/hazards/{made['id']}"
    change(api, url, "operator", {"geometry": moved, "properties": {"description": "v2"}})
    assert api.review("hazards", made["id"], "reviewer", decision="approve",
                      reason="checked").status_code == 200
    change(api, url, "admin", {"properties": {"classification": "CHA"}})
    delete(api, url)

    entries = api.client.get(f"{url}/history").json()
    assert [(e["action"], e["version"], e["actor"], e["organisation"], e["reason"])
            for e in entries] == [
        ("create", 1, "operator@HALO", "HALO", None),
        ("update", 2, "operator@HALO", "HALO", None),
        ("review", 3, "reviewer@ANAMA", "ANAMA", "checked"),
        ("update", 4, "admin@ANAMA", "ANAMA", None),
        ("delete", 5, "admin@ANAMA", "ANAMA", None),
    ]
    times = [dt.datetime.fromisoformat(e["at"]) for e in entries]
    assert times == sorted(times) and all(t.tzinfo is not None for t in times)
    # Each change starts from what the previous one left (but for the remaining area, which
    # accounting keeps current between writes as releases are recorded).
    assert entries[0]["before"] is None and entries[-1]["after"] is None
    for previous, following in zip(entries, entries[1:]):
        assert following["before"] | {"remaining_m2": None} == \
            previous["after"] | {"remaining_m2": None}
    afters = [e["after"] for e in entries[:-1]]
    assert [a["description"] for a in afters] == ["v1", "v2", "v2", "v2"]
    assert [a["review"] for a in afters] == ["submitted", "submitted", "approved", "approved"]
    assert [a["classification"] for a in afters] == ["SHA", "SHA", "SHA", "CHA"]
    assert same_shape(afters[0]["geometry"], first)
    assert all(same_shape(a["geometry"], moved) for a in afters[1:])
    assert entries[-1]["before"]["deleted_at"] is None

    # The record is gone from reads but stays, with its history, in the database.
    assert api.client.get(url).status_code == 404
    with api.engine.connect() as conn:
        assert conn.execute(text("SELECT deleted_at IS NOT NULL FROM hazards WHERE id = :id"),
                            {"id": made["id"]}).scalar_one()


def test_history_cannot_be_rewritten(api, engine):
    api.created("hazards", hazard())
    for statement in ("UPDATE history SET actor = 'someone else'", "DELETE FROM history"):
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT actor FROM history")).scalars().all() == ["admin@ANAMA"]


def test_a_record_as_it_was_at_a_time(api):
    first, moved = square(*INSIDE), square(INSIDE[0], INSIDE[1] + 0.01, half=0.002)
    made = api.created("hazards", hazard(first, description="first"), who="operator")
    url = f"/api/v1/hazards/{made['id']}"
    assert api.review("hazards", made["id"], "reviewer", decision="approve").status_code == 200
    change(api, url, "operator", {"geometry": moved, "properties": {"description": "moved"}})
    delete(api, url)
    entries = api.client.get(f"{url}/history", headers=api.auth("admin")).json()
    times = [dt.datetime.fromisoformat(e["at"]) for e in entries]

    def at(moment: dt.datetime | str, who: str | None = "admin"):
        value = moment if isinstance(moment, str) else moment.isoformat()
        return api.client.get(url, params={"at": value}, headers=api.auth(who))

    assert at(times[0] - dt.timedelta(seconds=1)).status_code == 404, "not yet created"
    for i, entry in enumerate(entries[:-1]):
        for when in (times[i], times[i] + (times[i + 1] - times[i]) / 2):
            response = at(when)
            assert response.status_code == 200, response.text
            body = response.json()
            assert (body["id"], body["properties"]["version"]) == (made["id"], entry["version"])
            assert same_shape(body["geometry"], entry["after"]["geometry"])
            assert body["properties"]["description"] == entry["after"]["description"]
            assert body["properties"]["review"] == entry["after"]["review"]
    assert at(times[-1]).status_code == 404, "deleted by then"
    was = at(times[1]).json()["properties"]
    assert (was["code"], was["organisation"], was["districts"]) == \
        (made["properties"]["code"], "HALO", ["Aghdam"])
    assert was["area_m2"] == pytest.approx(geodesic_area(shape(first)), rel=1e-9)

    # What a reader sees of the past is what it could have seen then.
    assert at(times[0], None).status_code == 404, "submitted then: not public"
    assert at(times[1], None).status_code == 200
    assert at(times[2], None).status_code == 404, "submitted again by the change"
    assert at(times[2], "operator").status_code == 200
    # A time without a zone is UTC; one that is not a time is refused.
    naive = times[1].astimezone(dt.UTC).replace(tzinfo=None)
    assert at(naive).json()["properties"]["version"] == 2
    assert at("yesterday-ish").status_code == 422


def test_deleted_records_leave_the_reports_but_not_history(api):
    a = square(*INSIDE, half=0.004)
    b = square(INSIDE[0] + 0.005, INSIDE[1], half=0.003)  # overlaps a's eastern edge
    r = square(INSIDE[0], INSIDE[1] - 0.003, half=0.003)  # across a's southern half
    for geometry in (a, b, r):
        assert AGHDAM.contains(shape(geometry))
    ha, hb = api.created("hazards", hazard(a)), api.created("hazards", hazard(b))
    rel = api.created("releases", release(r, hazard=ha["properties"]["code"]))
    A, B, R = shape(a), shape(b), shape(r)

    def expect(hazards, releases) -> tuple[float, float]:
        mapped = hazards[0].union(hazards[1]) if len(hazards) == 2 else hazards[0]
        released = mapped.intersection(releases) if releases is not None else None
        return geodesic_area(mapped), geodesic_area(released) if released else 0.0

    def figures():
        got = api.summary()
        return got["mapped_m2"], got["released_m2"]

    # Whole m², each the sum of figures rounded to the m²: within 2 m² of the exact area.
    assert figures() == pytest.approx(expect([A, B], R), rel=1e-6, abs=2)
    delete(api, f"/api/v1/hazards/{hb['id']}")
    assert figures() == pytest.approx(expect([A], R), rel=1e-6, abs=2)
    delete(api, f"/api/v1/releases/{rel['id']}")
    assert figures() == pytest.approx(expect([A], None), rel=1e-6, abs=2)
    assert api.summary()["devices"]["ap_mines"] == 0

    for kind, record in (("hazards", hb), ("releases", rel)):
        assert api.client.get(f"/api/v1/{kind}/{record['id']}").status_code == 404
        entries = api.client.get(f"/api/v1/{kind}/{record['id']}/history").json()
        assert [e["action"] for e in entries] == ["create", "delete"]
        assert same_shape(entries[-1]["before"]["geometry"], record["geometry"])
    assert [f["id"] for f in api.client.get("/api/v1/hazards").json()["features"]] == [ha["id"]]
