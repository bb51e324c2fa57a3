"""HubSpot ``observe_batch``: one batch read by email per round; searches only for thorough
looks; a 404 on a route that always exists is a wrong base URL."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from baton.probes.config import Expectation, StageConfig, ToolConfig
from baton.probes.connectors import Look
from baton.probes.connectors.hubspot import HubSpot
from baton.probes.connectors.testing import FakeApi, body, connect
from baton.probes.errors import ApiError, BadUrl, ConnectorError, Unreachable
from baton.probes.record import TestRecord, make_record

CRM = ToolConfig(name="crm", type="hubspot", credentials={"token": "pat-na1-test"})
STAGE = StageConfig(
    name="crm",
    tool="crm",
    expect=Expectation(fields={"firstname": "{first_name}", "lifecyclestage": "lead"}),
)
#: Another stage on the same tool asking for another property.
OWNER_STAGE = StageConfig(
    name="owner", tool="crm", expect=Expectation(fields={"hubspot_owner_id": "42"})
)
CONTACTS = "/crm/v3/objects/contacts"
BATCH = f"{CONTACTS}/batch/read"
SEARCH = f"{CONTACTS}/search"
PROPERTIES = [
    "email",
    "firstname",
    "lastname",
    "phone",
    "company",
    "signup_date",
    "payment_method",
    "lifecyclestage",
]
CREATED = dt.datetime(2026, 3, 7, 10, 0, tzinfo=dt.UTC).timestamp()
NOW = 1_900_000_000.0


def records(n: int) -> list[TestRecord]:
    return [make_record(f"bt{i:06d}") for i in range(n)]


def contact(contact_id: str, **props: str | None) -> dict[str, Any]:
    return {
        "id": contact_id,
        "properties": {
            "createdate": "2026-03-07T10:00:00.000Z",
            "hs_object_id": contact_id,
            "lastmodifieddate": "2026-03-07T10:00:01.000Z",
            **props,
        },
        "createdAt": "2026-03-07T10:00:00.000Z",
        "updatedAt": "2026-03-07T10:00:01.000Z",
        "archived": False,
    }


def batch_answer(*contacts: dict[str, Any], missing: Sequence[str] = ()) -> httpx.Response:
    """HubSpot's batch read answer: 200 when every email has a contact, else 207 with one
    OBJECT_NOT_FOUND error listing the others."""
    data: dict[str, Any] = {
        "status": "COMPLETE",
        "results": list(contacts),
        "startedAt": "2026-03-07T10:00:02.000Z",
        "completedAt": "2026-03-07T10:00:02.100Z",
    }
    if missing:
        data["numErrors"] = 1
        data["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "Could not get some CONTACT objects, they may be deleted or not exist.",
                "context": {"ids": list(missing)},
                "errors": [],
                "links": {},
            }
        ]
    return httpx.Response(207 if missing else 200, json=data)


def results(
    *contacts: dict[str, Any], after: str | None = None, total: int | None = None
) -> httpx.Response:
    data: dict[str, Any] = {
        "total": len(contacts) if total is None else total,
        "results": list(contacts),
    }
    if after is not None:
        data["paging"] = {"next": {"after": after, "link": f"?after={after}"}}
    return httpx.Response(200, json=data)


def flat(c: dict[str, Any], how: str) -> dict[str, Any]:
    return {**c["properties"], "_id": c["id"], "_matched_by": how, "_created_ts": CREATED}


@pytest.mark.anyio
async def test_a_round_of_100_looks_is_one_batch_read() -> None:
    recs = records(100)
    found = {i: contact(str(1000 + i), email=recs[i].email, firstname="Ada") for i in (3, 50)}
    missing = [r.email for i, r in enumerate(recs) if i not in found]
    api = FakeApi().on("POST", BATCH, batch_answer(*found.values(), missing=missing))
    async with connect(CRM, api) as crm:
        assert crm.max_batch == 100
        out = await crm.observe_batch([Look(r, STAGE, since=NOW) for r in recs])
    [req] = api.requests
    assert body(req) == {
        "idProperty": "email",
        "inputs": [{"id": r.email} for r in recs],
        "properties": PROPERTIES,
        "propertiesWithHistory": [],
    }
    assert req.headers["authorization"] == "Bearer pat-na1-test"
    assert out[3] == [flat(found[3], "email")]
    assert out[50] == [flat(found[50], "email")]
    assert all(out[i] == [] for i in range(100) if i not in found)


@pytest.mark.anyio
async def test_emails_are_read_once_and_each_look_sees_its_own_properties() -> None:
    [rec] = records(1)
    ada = contact("512", email=rec.email, firstname="Ada", hubspot_owner_id="42")
    api = FakeApi().on("POST", BATCH, batch_answer(ada))
    async with connect(CRM, api) as crm:
        crm_look, owner_look = await crm.observe_batch(
            [Look(rec, STAGE, since=NOW), Look(rec, OWNER_STAGE, since=NOW)]
        )
    [req] = api.requests
    sent = body(req)
    assert sent["inputs"] == [{"id": rec.email}]
    assert sent["properties"] == [*PROPERTIES, "hubspot_owner_id"]
    # The CRM stage did not ask for hubspot_owner_id; the owner stage did not ask for
    # lifecyclestage (HubSpot did not send it) and gets what HubSpot always sends.
    assert isinstance(crm_look, list) and isinstance(owner_look, list)
    assert "hubspot_owner_id" not in crm_look[0]
    assert owner_look[0]["hubspot_owner_id"] == "42"
    assert owner_look[0]["createdate"] == "2026-03-07T10:00:00.000Z"


@pytest.mark.anyio
async def test_non_thorough_looks_never_search() -> None:
    recs = records(3)
    api = FakeApi().on("POST", BATCH, batch_answer(missing=[r.email for r in recs]))
    async with connect(CRM, api) as crm:
        out = await crm.observe_batch([Look(r, STAGE, since=NOW) for r in recs])
    assert out == [[], [], []]
    assert [r.url.path for r in api.requests] == [BATCH]


@pytest.mark.anyio
async def test_thorough_looks_search_twins_by_email_in_and_the_marker_where_none() -> None:
    a, b, c = records(3)
    ada = contact("512", email=a.email, firstname="Ada")
    twin = contact("513", email=a.email, firstname="Ada")
    swapped = contact("600", email="ada@wrong.example.com", lastname=f"Probe-{b.marker}")
    api = (
        FakeApi()
        .on("POST", BATCH, batch_answer(ada, missing=[b.email, c.email]))
        .on("POST", SEARCH, results(ada, twin), results(swapped))
    )
    looks = [
        Look(a, STAGE, since=NOW, thorough=True),
        Look(b, STAGE, since=NOW, thorough=True),
        Look(c, STAGE, since=NOW),  # not thorough: no search for it
    ]
    async with connect(CRM, api) as crm:
        out = await crm.observe_batch(looks)
    _, in_search, marker_search = api.requests
    assert body(in_search) == {
        "filterGroups": [
            # Only where a contact was found: duplicates matter only there.
            {"filters": [{"propertyName": "email", "operator": "IN", "values": [a.email]}]}
        ],
        "properties": PROPERTIES,
        "limit": 200,
        "after": "0",
        "sorts": [],
    }
    assert body(marker_search) == {
        "filterGroups": [],
        "properties": PROPERTIES,
        "limit": 100,
        "after": "0",
        "sorts": [],
        "query": b.marker,
    }
    assert out == [
        [flat(ada, "email"), flat(twin, "email")],
        [flat(swapped, "marker")],
        [],
    ]


@pytest.mark.anyio
async def test_the_in_search_follows_paging_next_after() -> None:
    recs = records(2)
    first = [contact(str(i), email=recs[0].email) for i in range(200)]
    last = contact("900", email=recs[1].email)
    api = (
        FakeApi()
        .on("POST", BATCH, batch_answer(first[0], last))
        .on("POST", SEARCH, results(*first, after="200", total=201), results(last, total=201))
    )
    async with connect(CRM, api) as crm:
        out = await crm.observe_batch([Look(r, STAGE, since=NOW, thorough=True) for r in recs])
    searches = api.sent("POST", SEARCH)
    assert [body(s)["after"] for s in searches] == ["0", "200"]
    assert isinstance(out[0], list) and len(out[0]) == 200
    assert out[1] == [flat(last, "email")]


@pytest.mark.anyio
async def test_the_in_search_takes_lower_case_values_and_matches_any_case() -> None:
    rec = make_record("bt7k2xq9", {"email": "Probe+{marker}@Example.com"})
    stored = contact("512", email=rec.email.lower())
    api = FakeApi().on("POST", BATCH, batch_answer(stored)).on("POST", SEARCH, results(stored))
    async with connect(CRM, api) as crm:
        [found] = await crm.observe_batch([Look(rec, STAGE, since=NOW, thorough=True)])
    assert body(api.sent("POST", SEARCH)[0])["filterGroups"][0]["filters"][0]["values"] == [
        "probe+bt7k2xq9@example.com"
    ]
    assert found == [flat(stored, "email")]


@pytest.mark.anyio
async def test_batch_results_equal_what_observe_gives() -> None:
    rec = make_record("bt7k2xq9")
    ada = contact("512", email=rec.email, firstname="Ada", lastname="Probe-bt7k2xq9")
    twin = contact("513", email=rec.email, firstname="Ada")
    api = (
        FakeApi()
        .on("GET", f"{CONTACTS}/{rec.email}", httpx.Response(200, json=ada))
        .on("POST", BATCH, batch_answer(ada))
        .on("POST", SEARCH, results(ada, twin))
    )
    async with connect(CRM, api) as crm:
        single = await crm.observe(rec, STAGE)
        [batched] = await crm.observe_batch([Look(rec, STAGE, since=NOW, thorough=True)])
    assert batched == single


@pytest.mark.anyio
async def test_a_207_error_other_than_not_found_fails_only_its_looks() -> None:
    a, b = records(2)
    answer = {
        "status": "COMPLETE",
        "results": [contact("512", email=a.email)],
        "errors": [
            {
                "status": "error",
                "category": "VALIDATION_ERROR",
                "message": "Invalid email",
                "context": {"ids": [b.email]},
                "errors": [],
                "links": {},
            }
        ],
        "startedAt": "2026-03-07T10:00:02.000Z",
        "completedAt": "2026-03-07T10:00:02.100Z",
    }
    api = FakeApi().on("POST", BATCH, httpx.Response(207, json=answer))
    async with connect(CRM, api) as crm:
        found_a, failed_b = await crm.observe_batch([Look(a, STAGE, NOW), Look(b, STAGE, NOW)])
    assert isinstance(found_a, list) and [r["_id"] for r in found_a] == ["512"]
    assert isinstance(failed_b, ApiError) and "VALIDATION_ERROR" in str(failed_b)


@pytest.mark.anyio
async def test_a_failed_batch_read_fails_every_look_it_served() -> None:
    recs = records(3)
    api = FakeApi().on("POST", BATCH, httpx.Response(503))
    async with connect(CRM, api) as crm:
        out = await crm.observe_batch([Look(r, STAGE, NOW, thorough=True) for r in recs])
    assert all(isinstance(r, Unreachable) for r in out)
    assert out[0] is out[1] is out[2]
    assert {r.url.path for r in api.requests} == {BATCH}


@pytest.mark.anyio
async def test_a_failed_marker_search_fails_only_its_look() -> None:
    a, b = records(2)
    ada = contact("512", email=a.email)
    api = (
        FakeApi()
        .on("POST", BATCH, batch_answer(ada, missing=[b.email]))
        .on(
            "POST", SEARCH, results(ada), httpx.Response(400, json={"category": "VALIDATION_ERROR"})
        )
    )
    async with connect(CRM, api) as crm:
        found_a, failed_b = await crm.observe_batch(
            [Look(a, STAGE, NOW, thorough=True), Look(b, STAGE, NOW, thorough=True)]
        )
    assert isinstance(found_a, list) and len(found_a) == 1
    assert isinstance(failed_b, ApiError)


@pytest.mark.anyio
async def test_a_404_batch_answer_shaped_like_one_means_nothing_found() -> None:
    """HubSpot documents 207 when emails have no contact; a 404 carrying the same batch
    answer is read the same way, not as a wrong URL."""
    [rec] = records(1)
    answer = json.loads(batch_answer(missing=[rec.email]).content)
    api = FakeApi().on("POST", BATCH, httpx.Response(404, json=answer))
    async with connect(CRM, api) as crm:
        assert await crm.observe_batch([Look(rec, STAGE, NOW)]) == [[]]


# -- a 404 blames only what was checked -------------------------------------------------------

HTML_404 = httpx.Response(404, html="<html><body>Not Found</body></html>")
WRONG = ToolConfig(
    name="crm",
    type="hubspot",
    base_url="https://hubspot.example/wrong",
    credentials={"token": "pat-na1-test"},
)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(HTML_404, id="html"),
        pytest.param(
            httpx.Response(
                404, json={"status": "error", "message": "Unable to route", "category": "x"}
            ),
            id="other-json",
        ),
    ],
)
async def test_a_404_on_the_batch_route_is_a_wrong_base_url(answer: httpx.Response) -> None:
    recs = records(2)
    api = FakeApi().on("POST", "/wrong" + BATCH, answer)
    async with connect(WRONG, api) as crm:
        out = await crm.observe_batch([Look(r, STAGE, NOW) for r in recs])
    assert all(isinstance(r, BadUrl) for r in out)
    assert str(out[0]) == (
        "crm: POST https://hubspot.example/wrong/crm/v3/objects/contacts/batch/read answered "
        "404: is tools.crm.base_url right?"
    )


@pytest.mark.anyio
async def test_a_404_on_the_search_route_is_a_wrong_base_url() -> None:
    [rec] = records(1)
    api = (
        FakeApi().on("POST", BATCH, batch_answer(missing=[rec.email])).on("POST", SEARCH, HTML_404)
    )
    async with connect(CRM, api) as crm:
        [out] = await crm.observe_batch([Look(rec, STAGE, NOW, thorough=True)])
    assert isinstance(out, BadUrl) and out.url.endswith(SEARCH)


@pytest.mark.anyio
async def test_a_contact_get_404_is_not_found_only_with_hubspots_body() -> None:
    rec = make_record("bt7k2xq9")
    not_found = httpx.Response(
        404,
        json={
            "status": "error",
            "message": "Object not found.",
            "correlationId": "aeb5f871-7f07-4993-9211-075dc63e7cbf",
            "category": "OBJECT_NOT_FOUND",
        },
    )
    by_email = f"{CONTACTS}/{rec.email}"
    api = FakeApi().on("GET", by_email, not_found, HTML_404)
    async with connect(CRM, api) as crm:
        assert isinstance(crm, HubSpot)
        assert await crm.get_by_email(rec.email, PROPERTIES) is None
        with pytest.raises(BadUrl, match=r"GET https://api\.hubapi\.com/crm/v3/objects/contacts/"):
            await crm.get_by_email(rec.email, PROPERTIES)


@pytest.mark.anyio
async def test_cleanup_raises_on_a_wrong_base_url_instead_of_removing_nothing() -> None:
    rec = make_record("bt7k2xq9")
    api = FakeApi().on("GET", f"/wrong{CONTACTS}/{rec.email}", HTML_404)
    async with connect(WRONG, api) as crm:
        with pytest.raises(BadUrl):
            await crm.cleanup(rec)


@pytest.mark.anyio
async def test_cleanup_raises_when_only_the_search_route_is_missing() -> None:
    """A wrong path on HubSpot's own host can answer a contact GET with HubSpot's
    OBJECT_NOT_FOUND body; the search then tells the truth, and cleanup must not say 0."""
    rec = make_record("bt7k2xq9")
    not_found = httpx.Response(404, json={"category": "OBJECT_NOT_FOUND", "message": "x"})
    api = (
        FakeApi()
        .on("GET", f"/wrong{CONTACTS}/{rec.email}", not_found)
        .on("POST", f"/wrong{SEARCH}", HTML_404)
    )
    async with connect(WRONG, api) as crm:
        with pytest.raises(BadUrl):
            await crm.cleanup(rec)


def test_bad_url_is_a_connector_error() -> None:
    # The engine catches ConnectorError around observe and cleanup.
    assert issubclass(BadUrl, ConnectorError)


@pytest.mark.anyio
async def test_deciding_looks_search_twins_only_where_found_and_never_the_marker() -> None:
    a, b = records(2)
    ada = contact("512", email=a.email, firstname="Ada")
    twin = contact("513", email=a.email, firstname="Ada")
    api = (
        FakeApi()
        .on("POST", BATCH, batch_answer(ada, missing=[b.email]))
        .on("POST", SEARCH, results(ada, twin))
    )
    looks = [Look(a, STAGE, since=NOW, deciding=True), Look(b, STAGE, since=NOW, deciding=True)]
    async with connect(CRM, api) as crm:
        out = await crm.observe_batch(looks)
    assert [r.url.path for r in api.requests] == [BATCH, SEARCH]
    assert body(api.requests[1])["filterGroups"][0]["filters"][0]["values"] == [a.email]
    assert out == [[flat(ada, "email"), flat(twin, "email")], []]


@pytest.mark.anyio
async def test_duplicates_are_searched_only_for_contacts_whose_settle_window_passed() -> None:
    a, b = records(2)
    created = 1_772_877_600.0  # 2026-03-07T10:00:00Z, the contacts' createdAt
    settled = contact("512", email=a.email)
    fresh = contact("600", email=b.email)
    api = (
        FakeApi()
        .on("POST", BATCH, batch_answer(settled, fresh))
        .on("POST", SEARCH, results(settled))
    )
    looks = [
        Look(a, STAGE, since=NOW, deciding=True, settled_before=created),  # settled: search
        Look(b, STAGE, since=NOW, deciding=True, settled_before=created - 0.5),  # too fresh
    ]
    async with connect(CRM, api) as crm:
        out = await crm.observe_batch(looks)
    assert [r.url.path for r in api.requests] == [BATCH, SEARCH]
    assert body(api.requests[1])["filterGroups"][0]["filters"][0]["values"] == [a.email]
    assert out == [[flat(settled, "email")], [flat(fresh, "email")]]
