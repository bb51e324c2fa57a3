"""HubSpot ``cleanup_batch``: a round of removals is one batch read by email, one ``IN``
search for duplicates, the marker search per thorough removal, one batch read by id for what
the read by email did not show, and one batch archive; only contacts read in the round that
carry the removal's email or marker are archived."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from test_connectors_hubspot_batch import (
    BATCH,
    CONTACTS,
    CRM,
    HTML_404,
    SEARCH,
    WRONG,
    batch_answer,
    contact,
    records,
    results,
)

from baton.probes.connectors import Removal
from baton.probes.connectors.testing import FakeApi, body, connect
from baton.probes.errors import ApiError, BadUrl, Unreachable
from baton.probes.record import make_record

ARCHIVE = f"{CONTACTS}/batch/archive"
NO_CONTENT = httpx.Response(204)
NOW = 1_900_000_000.0


def ours(contact_id: str, email: str, marker: str, **props: str) -> dict[str, Any]:
    return contact(contact_id, email=email, firstname="Ada", lastname=f"Probe-{marker}", **props)


def searches(
    *, by_in: httpx.Response | None = None, by_query: dict[str, httpx.Response] | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    """The search route: ``IN`` searches answered ``by_in``, full-text ones by their query."""

    def answer(request: httpx.Request) -> httpx.Response:
        sent = body(request)
        if "query" in sent:
            assert by_query is not None, sent
            return by_query.get(sent["query"], results())
        assert by_in is not None, sent
        return by_in

    return answer


def by_id_reads(store: dict[str, dict[str, Any]]) -> Callable[[httpx.Request], httpx.Response]:
    """The batch read route: by email (``idProperty``) or by id, over ``store``."""

    def answer(request: httpx.Request) -> httpx.Response:
        sent = body(request)
        keys = [i["id"] for i in sent["inputs"]]
        if sent.get("idProperty") == "email":
            found = {c["properties"]["email"]: c for c in store.values()}
        else:
            found = dict(store)
        hits = [found[k] for k in keys if k in found]
        return batch_answer(*hits, missing=[k for k in keys if k not in found])

    return answer


def paths(api: FakeApi) -> list[str]:
    return [r.url.path for r in api.requests]


def archived(api: FakeApi) -> list[str]:
    return [i["id"] for r in api.sent("POST", ARCHIVE) for i in body(r)["inputs"]]


@pytest.mark.anyio
async def test_100_removals_are_a_batch_read_an_in_search_and_one_archive() -> None:
    recs = records(100)
    found = [ours(str(1000 + i), r.email, r.marker) for i, r in enumerate(recs)]
    api = (
        FakeApi()
        .on("POST", BATCH, batch_answer(*found))
        .on("POST", SEARCH, results(*found))
        .on("POST", ARCHIVE, NO_CONTENT)
    )
    removals = [
        Removal(r, known_ids=(str(1000 + i),), thorough=False, since=NOW)
        for i, r in enumerate(recs)
    ]
    async with connect(CRM, api) as crm:
        assert crm.max_removals == 100
        out = await crm.cleanup_batch(removals)
    assert out == [1] * 100
    assert paths(api) == [BATCH, SEARCH, ARCHIVE]
    read, search, archive = api.requests
    assert body(read)["idProperty"] == "email"
    assert body(read)["inputs"] == [{"id": r.email} for r in recs]
    [flt] = body(search)["filterGroups"][0]["filters"]
    assert (flt["operator"], flt["values"]) == ("IN", [r.email for r in recs])
    assert body(archive) == {"inputs": [{"id": str(1000 + i)} for i in range(100)]}


@pytest.mark.anyio
async def test_nothing_found_is_one_request_and_nothing_archived() -> None:
    recs = records(3)
    api = FakeApi().on("POST", BATCH, batch_answer(missing=[r.email for r in recs]))
    async with connect(CRM, api) as crm:
        out = await crm.cleanup_batch([Removal(r, thorough=False, since=NOW) for r in recs])
    assert out == [0, 0, 0]
    assert paths(api) == [BATCH]


@pytest.mark.anyio
async def test_a_known_id_with_a_mangled_email_is_archived_only_when_it_carries_the_marker() -> (
    None
):
    a, b = records(2)
    mangled = contact("600", email="ada@wrong.example.com", lastname=f"Probe-{a.marker}")
    stranger = contact("700", email="rosen@example.org", lastname="Rosen")
    api = (
        FakeApi()
        .on("POST", BATCH, by_id_reads({"600": mangled, "700": stranger}))
        .on("POST", ARCHIVE, NO_CONTENT)
    )
    removals = [
        Removal(a, known_ids=("600",), thorough=False, since=NOW),
        Removal(b, known_ids=("700",), thorough=False, since=NOW),
    ]
    async with connect(CRM, api) as crm:
        assert await crm.cleanup_batch(removals) == [1, 0]
    assert paths(api) == [BATCH, BATCH, ARCHIVE]
    by_id = body(api.requests[1])
    assert "idProperty" not in by_id
    assert by_id["inputs"] == [{"id": "600"}, {"id": "700"}]
    assert archived(api) == ["600"]


@pytest.mark.anyio
async def test_thorough_adds_the_marker_search_and_reads_its_hits_from_the_store() -> None:
    a, b = records(2)
    ada = ours("512", a.email, a.marker)
    swapped = contact("600", email="Ada", lastname=f"Probe-{a.marker}")
    lookalike = contact("601", email="x@example.org", lastname="Probe-somebody-else")
    api = (
        FakeApi()
        .on("POST", BATCH, by_id_reads({"512": ada, "600": swapped, "601": lookalike}))
        .on(
            "POST",
            SEARCH,
            searches(by_in=results(ada), by_query={a.marker: results(swapped, lookalike)}),
        )
        .on("POST", ARCHIVE, NO_CONTENT)
    )
    removals = [Removal(a, thorough=True, since=NOW), Removal(b, thorough=False, since=NOW)]
    async with connect(CRM, api) as crm:
        assert await crm.cleanup_batch(removals) == [2, 0]
    assert paths(api) == [BATCH, SEARCH, SEARCH, BATCH, ARCHIVE]
    assert [i["id"] for i in body(api.requests[3])["inputs"]] == ["600", "601"]
    assert archived(api) == ["512", "600"]


@pytest.mark.anyio
async def test_duplicates_sharing_the_email_are_archived_and_counted() -> None:
    [a] = records(1)
    ada, twin = ours("512", a.email, a.marker), ours("513", a.email, a.marker)
    api = (
        FakeApi()
        .on("POST", BATCH, batch_answer(ada), batch_answer(twin))
        .on("POST", SEARCH, results(ada, twin))
        .on("POST", ARCHIVE, NO_CONTENT)
    )
    async with connect(CRM, api) as crm:
        assert await crm.cleanup_batch([Removal(a, thorough=False, since=NOW)]) == [2]
    assert paths(api) == [BATCH, SEARCH, BATCH, ARCHIVE]
    assert archived(api) == ["512", "513"]


@pytest.mark.anyio
async def test_a_search_hit_the_store_no_longer_has_is_neither_archived_nor_counted() -> None:
    """The search index lags behind archiving: a hit is counted only once read by id."""
    [a] = records(1)
    ada, gone = ours("512", a.email, a.marker), ours("513", a.email, a.marker)
    api = (
        FakeApi()
        .on("POST", BATCH, by_id_reads({"512": ada}))
        .on("POST", SEARCH, results(ada, gone))
        .on("POST", ARCHIVE, NO_CONTENT)
    )
    async with connect(CRM, api) as crm:
        assert await crm.cleanup_batch([Removal(a, thorough=False, since=NOW)]) == [1]
    assert archived(api) == ["512"]


@pytest.mark.anyio
async def test_a_second_round_removes_nothing_and_archives_nothing() -> None:
    """Idempotent: the store has archived everything, the index still lists it (lag)."""
    a, b = records(2)
    ada = ours("512", a.email, a.marker)
    stale = results(ada)
    store = {"512": ada}
    api = (
        FakeApi()
        .on("POST", BATCH, by_id_reads(store))
        .on("POST", SEARCH, searches(by_in=stale, by_query={a.marker: stale}))
        .on("POST", ARCHIVE, NO_CONTENT)
    )
    removals = [Removal(a, known_ids=("512",), since=NOW), Removal(b, since=NOW)]
    async with connect(CRM, api) as crm:
        assert await crm.cleanup_batch(removals) == [1, 0]
        store.clear()
        api.requests.clear()
        assert await crm.cleanup_batch(removals) == [0, 0]
    assert ARCHIVE not in paths(api)


@pytest.mark.anyio
async def test_a_contact_two_removals_share_is_counted_once() -> None:
    a = make_record("bt000001", {"email": "fixed@example.com"})
    b = make_record("bt000002", {"email": "fixed@example.com"})
    shared = contact("512", email="fixed@example.com")
    api = (
        FakeApi()
        .on("POST", BATCH, batch_answer(shared))
        .on("POST", SEARCH, results(shared))
        .on("POST", ARCHIVE, NO_CONTENT)
    )
    removals = [Removal(a, thorough=False, since=NOW), Removal(b, thorough=False, since=NOW)]
    async with connect(CRM, api) as crm:
        assert await crm.cleanup_batch(removals) == [1, 0]
    assert archived(api) == ["512"]
    assert body(api.requests[0])["inputs"] == [{"id": "fixed@example.com"}]


@pytest.mark.anyio
async def test_a_404_on_the_archive_route_is_a_wrong_url_for_every_removal() -> None:
    recs = records(3)
    found = [ours(str(1000 + i), r.email, r.marker) for i, r in enumerate(recs)]
    api = (
        FakeApi()
        .on("POST", f"/wrong{BATCH}", batch_answer(*found))
        .on("POST", f"/wrong{SEARCH}", results(*found))
        .on("POST", f"/wrong{ARCHIVE}", HTML_404)
    )
    async with connect(WRONG, api) as crm:
        out = await crm.cleanup_batch([Removal(r, thorough=False, since=NOW) for r in recs])
    assert all(isinstance(o, BadUrl) for o in out), out
    assert "batch/archive" in str(out[0])


@pytest.mark.anyio
async def test_a_wrong_base_url_fails_every_removal_at_the_first_read() -> None:
    recs = records(2)
    api = FakeApi().on("POST", f"/wrong{BATCH}", HTML_404)
    async with connect(WRONG, api) as crm:
        out = await crm.cleanup_batch([Removal(r, since=NOW) for r in recs])
    assert all(isinstance(o, BadUrl) for o in out), out
    assert len(api.requests) == 1


@pytest.mark.anyio
async def test_a_failing_shared_request_fails_every_removal_it_served() -> None:
    a, b, c = records(3)
    ada, bob = ours("512", a.email, a.marker), ours("513", b.email, b.marker)
    down = httpx.Response(503, json={"message": "Service Unavailable"})
    api = (
        FakeApi()
        .on("POST", BATCH, batch_answer(ada, bob, missing=[c.email]))
        .on("POST", SEARCH, down)  # the IN search served a and b, not c
    )
    removals = [Removal(r, thorough=False, since=NOW) for r in (a, b, c)]
    async with connect(CRM, api) as crm:
        out = await crm.cleanup_batch(removals)
    assert isinstance(out[0], Unreachable) and out[0] is out[1]
    assert out[2] == 0
    assert ARCHIVE not in paths(api)


@pytest.mark.anyio
async def test_a_batch_read_failure_fails_everyone() -> None:
    recs = records(2)
    api = FakeApi().on("POST", BATCH, httpx.Response(503, text="down"))
    async with connect(CRM, api) as crm:
        out = await crm.cleanup_batch([Removal(r, since=NOW) for r in recs])
    assert all(isinstance(o, Unreachable) for o in out)


@pytest.mark.anyio
async def test_an_email_the_batch_read_could_not_read_fails_only_its_removal() -> None:
    a, b = records(2)
    bob = ours("513", b.email, b.marker)
    answer = batch_answer(bob).json()
    answer["errors"] = [
        {
            "status": "error",
            "category": "VALIDATION_ERROR",
            "message": "Property values were not valid",
            "context": {"ids": [a.email]},
        }
    ]
    api = (
        FakeApi()
        .on("POST", BATCH, httpx.Response(207, json=answer))
        .on("POST", SEARCH, results(bob))
        .on("POST", ARCHIVE, NO_CONTENT)
    )
    removals = [Removal(r, thorough=False, since=NOW) for r in (a, b)]
    async with connect(CRM, api) as crm:
        out = await crm.cleanup_batch(removals)
    assert isinstance(out[0], ApiError) and out[1] == 1
    assert archived(api) == ["513"]


@pytest.mark.anyio
async def test_over_100_contacts_are_archived_100_at_a_time() -> None:
    recs = records(60)
    firsts = [ours(str(1000 + i), r.email, r.marker) for i, r in enumerate(recs)]
    twins = [ours(str(2000 + i), r.email, r.marker) for i, r in enumerate(recs)]
    api = (
        FakeApi()
        .on("POST", BATCH, by_id_reads({c["id"]: c for c in firsts + twins}))
        .on("POST", SEARCH, results(*firsts, *twins))
        .on("POST", ARCHIVE, NO_CONTENT)
    )
    async with connect(CRM, api) as crm:
        out = await crm.cleanup_batch([Removal(r, thorough=False, since=NOW) for r in recs])
    assert out == [2] * 60
    assert paths(api) == [BATCH, SEARCH, BATCH, ARCHIVE, ARCHIVE]
    assert [len(body(r)["inputs"]) for r in api.sent("POST", ARCHIVE)] == [100, 20]


@pytest.mark.anyio
async def test_more_removals_than_a_batch_take_one_round_per_100() -> None:
    recs = records(150)
    api = FakeApi().on("POST", BATCH, by_id_reads({}))
    async with connect(CRM, api) as crm:
        out = await crm.cleanup_batch([Removal(r, thorough=False, since=NOW) for r in recs])
    assert out == [0] * 150
    assert [len(body(r)["inputs"]) for r in api.requests] == [100, 50]
