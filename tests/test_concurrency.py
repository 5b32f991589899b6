"""No lost updates: parallel clients against a real running server, each GET then PATCH.

Per version exactly one writer wins and the others hear 412; the history holds one row per
success with contiguous versions.
"""

import threading
from collections import Counter
from datetime import datetime

import httpx

from minemap.app import create_app
from serving import serving
from test_review import bearer, hazard, issue_tokens

WRITERS = 8
ROUNDS = 3
FREE_ATTEMPTS = 3


def test_parallel_writers_never_lose_an_update(settings, engine, units):
    issued = issue_tokens(engine)
    auth = bearer(issued["admin"])
    with serving(create_app(settings)) as base:
        with httpx.Client(base_url=base, headers=auth, timeout=60) as setup:
            made = setup.post("/api/v1/hazards", json=hazard(description="start"))
            assert made.status_code == 201, made.text
        url = f"/api/v1/hazards/{made.json()['id']}"
        barrier = threading.Barrier(WRITERS)
        outcomes: list[tuple[int, int, int, str]] = []  # (round, version read, status, text)
        lock = threading.Lock()

        def attempt(client: httpx.Client, label: str, round_: int, together: bool) -> None:
            read = client.get(url)
            assert read.status_code == 200
            if together:
                barrier.wait(timeout=30)  # every writer has read before anyone writes
            written = client.patch(url, json={"properties": {"description": label}},
                                   headers={"If-Match": read.headers["etag"]})
            with lock:
                outcomes.append((round_, read.json()["properties"]["version"],
                                 written.status_code, label))

        def writer(number: int) -> None:
            with httpx.Client(base_url=base, headers=auth, timeout=60) as client:
                for round_ in range(ROUNDS):
                    attempt(client, f"round {round_} writer {number}", round_, True)
                    barrier.wait(timeout=30)  # the round is over for everyone
                for n in range(FREE_ATTEMPTS):  # then all at once, with no rounds
                    attempt(client, f"free {n} writer {number}", ROUNDS, False)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert len(outcomes) == WRITERS * (ROUNDS + FREE_ATTEMPTS)
        assert {status for *_, status, _ in outcomes} <= {200, 412}, outcomes

        for round_ in range(ROUNDS):
            this = [o for o in outcomes if o[0] == round_]
            assert {version for _, version, _, _ in this} == {1 + round_}
            assert sorted(status for _, _, status, _ in this) == [200] + [412] * (WRITERS - 1)
        wins = [o for o in outcomes if o[2] == 200]
        # Per version read, at most one write succeeded.
        assert max(Counter(version for _, version, _, _ in wins).values()) == 1

        with httpx.Client(base_url=base, headers=auth, timeout=60) as reader:
            final = reader.get(url).json()["properties"]
            entries = reader.get(f"{url}/history").json()
    assert final["version"] == 1 + len(wins)
    assert [e["version"] for e in entries] == list(range(1, final["version"] + 1))
    times = [datetime.fromisoformat(e["at"]) for e in entries]
    assert times == sorted(times), "a record's versions are in time order"
    assert [e["action"] for e in entries] == ["create"] + ["update"] * len(wins)
    won = sorted(label for *_, label in wins)
    assert sorted(e["after"]["description"] for e in entries[1:]) == won
    for previous, following in zip(entries, entries[1:]):
        assert following["before"]["version"] == previous["version"]
        assert following["before"]["description"] == previous["after"]["description"]
    assert final["description"] == entries[-1]["after"]["description"]
