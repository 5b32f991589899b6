"""One write path: a record gets the same checks, warnings, numbering and history whichever
door it comes through (a POST, an import)."""

import json
from datetime import date

import pytest
from shapely.geometry import mapping
from sqlalchemy import text

from test_imports import Database, db, post, square, write_source  # noqa: F401
from minemap.vocab import Role

OLD = {"code": "OLD-1", "classification": "SHA", "hazard_types": ["AP"],
       "recorded_on": "2021-01-01"}
CASES = {
    # name: (kind, properties, geometry, the warning codes both doors give)
    "overlaps a stored hazard": ("hazards", {"classification": "CHA", "hazard_types": ["AT"],
                                             "recorded_on": "2022-01-01"},
                                 square(46.903, 40.01), ["overlaps_existing"]),
    "reaches beyond its hazard": ("releases", {"method": "cleared", "hazard": "OLD-1",
                                               "completed_on": "2022-05-01", "ap_mines": 2},
                                  square(46.905, 40.01, 0.002), ["beyond_hazard"]),
    "names a new organisation": ("hazards", {"classification": "SHA", "hazard_types": ["AP"],
                                             "recorded_on": "2022-01-01", "organisation": "NEW"},
                                 square(46.95, 40.05), ["new_organisation"]),
    "has a property no kind has": ("releases", {"method": "reduced", "completed_on": "2022-06-01",
                                                "colour": "red"},
                                   square(46.95, 40.05, 0.002), ["unknown_property"]),
}


def warnings_of(response) -> list[tuple]:
    return [(w["index"], w["code"], w["reason"]) for w in response.json().get("warnings", [])]


@pytest.mark.parametrize("case", CASES)
def test_a_post_warns_as_an_import_of_the_same_feature(client, db, tmp_path, case):  # noqa: F811
    kind, properties, geometry, codes = CASES[case]
    stored = client.post("/api/v1/hazards", headers=db.auth(),
                         json={"type": "Feature", "properties": OLD,
                               "geometry": mapping(square(46.90, 40.01))})
    assert stored.status_code == 201, stored.text
    source = write_source(tmp_path / "one.geojson", [(properties, geometry)])
    imported = post(client, db, source, kind=kind, dry_run="true")
    assert imported.status_code == 200, imported.text
    posted = client.post(f"/api/v1/{kind}", headers=db.auth(),
                         json={"type": "Feature", "properties": properties,
                               "geometry": mapping(geometry)})
    assert posted.status_code == 201, posted.text
    assert [code for _, code, _ in warnings_of(posted)] == codes
    assert warnings_of(posted) == warnings_of(imported)


def test_both_doors_number_and_log_alike(client, db, tmp_path):  # noqa: F811
    feature = ({"classification": "SHA", "hazard_types": ["AP"], "recorded_on": "2022-01-01"},
               square(46.90, 40.01))
    posted = client.post("/api/v1/hazards", headers=db.auth(Role.operator),
                         json={"type": "Feature", "properties": feature[0],
                               "geometry": mapping(feature[1])})
    assert posted.status_code == 201, posted.text
    imported = post(client, db, write_source(tmp_path / "one.geojson", [feature]), Role.operator)
    assert imported.status_code == 201, imported.text
    ids = [posted.json()["id"], *imported.json()["created"]]
    with db.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT h.code, h.review, e.action, e.version, e.actor, e.after - 'id' - 'code' "
            "- 'created_at' - 'updated_at' AS after FROM hazards AS h "
            "JOIN history AS e ON e.entity = 'hazard' AND e.entity_id = h.id "
            "WHERE h.id = ANY(:ids) ORDER BY h.id"), {"ids": ids}).all()
    assert [row.code for row in rows] == ["AZ-AGM-SHA-1", "AZ-AGM-SHA-2"]
    assert {(row.review, row.action, row.version) for row in rows} == {("submitted", "create", 1)}
    assert rows[0].actor == rows[1].actor
    assert rows[0].after == rows[1].after  # the same snapshot of the same record


def test_a_change_and_a_release_on_its_hazard_do_not_deadlock(client, db, tmp_path):  # noqa: F811
    """A PATCH locks its hazard; a release over it, meanwhile, refreshes the hazard's
    remaining area. Both lock the data version first, so one waits for the other."""
    import threading

    from minemap import write
    from minemap.db.engine import transaction
    from minemap.kinds import HAZARDS, RELEASES
    from minemap.store import districts, tokens

    stored = client.post("/api/v1/hazards", headers=db.auth(),
                         json={"type": "Feature", "properties": OLD,
                               "geometry": mapping(square(46.90, 40.01))})
    assert stored.status_code == 201, stored.text
    with transaction(db.engine) as conn:
        actor = tokens.authenticate(conn, db.tokens[Role.admin])
        outline = districts.outline(conn, 5000)
    locked, errors = threading.Event(), []

    def change():
        try:
            with transaction(db.engine) as conn:
                current = write.locked(conn, HAZARDS, stored.json()["id"], reader=actor)
                locked.set()
                threading.Event().wait(0.5)  # the release tries to write meanwhile
                write.update(conn, HAZARDS, current, {"properties": {"description": "re-surveyed"}},
                             actor=actor, today=date.today(), outline=outline)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    def release():
        locked.wait(10)
        try:
            with transaction(db.engine) as conn:
                # Naming no hazard: a reference would wait for the hazard's row itself.
                write.create(conn, RELEASES, [{"type": "Feature", "properties": {
                    "method": "cleared", "completed_on": "2022-05-01"},
                    "geometry": json.loads(json.dumps(mapping(square(46.90, 40.01, 0.002))))}],
                    actor=actor, today=date.today(), outline=outline)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=change), threading.Thread(target=release)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    hazard = client.get(f"/api/v1/hazards/{stored.json()['id']}").json()["properties"]
    assert hazard["description"] == "re-surveyed" and hazard["remaining_m2"] < hazard["area_m2"]
