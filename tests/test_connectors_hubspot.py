from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from tenacity import wait_none

from baton.probes.config import Expectation, StageConfig, ToolConfig
from baton.probes.connectors import RetryPolicy
from baton.probes.connectors.testing import FakeApi, body, connect
from baton.probes.errors import ApiError, AuthError, ConfigError, Unreachable
from baton.probes.record import make_record

RECORD = make_record("bt7k2xq9")
CRM = ToolConfig(name="crm", type="hubspot", credentials={"token": "pat-na1-test"})
STAGE = StageConfig(
    name="crm",
    tool="crm",
    expect=Expectation(fields={"firstname": "{first_name}", "lifecyclestage": "lead"}),
)
CONTACTS = "/crm/v3/objects/contacts"
BY_EMAIL = f"{CONTACTS}/probe+bt7k2xq9@example.com"  # as httpx decodes it
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


#: createdAt of every contact below, as the Unix timestamp the connector reports.
CREATED = dt.datetime(2026, 3, 7, 10, 0, tzinfo=dt.UTC).timestamp()


def contact(contact_id: str, **props: str | None) -> dict[str, Any]:
    """A contact as the v3 API returns it (SimplePublicObject)."""
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


ADA = contact(
    "512", email=RECORD.email, firstname="Ada", lastname="Probe-bt7k2xq9", phone=RECORD.phone
)
NOT_FOUND = httpx.Response(
    404,
    json={
        "status": "error",
        "message": "Object not found.  objectId are usually numeric.",
        "correlationId": "aeb5f871-7f07-4993-9211-075dc63e7cbf",
        "category": "OBJECT_NOT_FOUND",
    },
)


def results(*contacts: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"total": len(contacts), "results": list(contacts)})


@pytest.mark.anyio
async def test_observe_reads_by_email_then_searches_for_duplicates() -> None:
    twin = contact("513", email=RECORD.email, firstname="Ada")
    api = (
        FakeApi()
        .on("GET", BY_EMAIL, httpx.Response(200, json=ADA))
        .on("POST", SEARCH, results(ADA, twin))
    )
    async with connect(CRM, api) as crm:
        found = await crm.observe(RECORD, STAGE)

    get, search = api.requests
    assert (
        get.url.raw_path.split(b"?")[0] == b"/crm/v3/objects/contacts/probe%2Bbt7k2xq9@example.com"
    )
    assert get.url.params.get_list("properties") == PROPERTIES
    assert get.url.params["idProperty"] == "email"
    assert get.headers["authorization"] == "Bearer pat-na1-test"
    assert body(search) == {
        "filterGroups": [
            {"filters": [{"propertyName": "email", "operator": "EQ", "value": RECORD.email}]}
        ],
        "properties": PROPERTIES,
        "limit": 100,
        "after": "0",
        "sorts": [],
    }
    assert found == [
        {**ADA["properties"], "_id": "512", "_matched_by": "email", "_created_ts": CREATED},
        {**twin["properties"], "_id": "513", "_matched_by": "email", "_created_ts": CREATED},
    ]


@pytest.mark.anyio
async def test_search_index_lag_is_covered_by_the_direct_read() -> None:
    api = FakeApi().on("GET", BY_EMAIL, httpx.Response(200, json=ADA)).on("POST", SEARCH, results())
    async with connect(CRM, api) as crm:
        found = await crm.observe(RECORD, STAGE)
    assert [r["_id"] for r in found] == ["512"]


@pytest.mark.anyio
async def test_a_mangled_email_is_found_by_marker() -> None:
    swapped = contact("600", email="ada@wrong.example.com", lastname="Probe-bt7k2xq9")
    api = FakeApi().on("GET", BY_EMAIL, NOT_FOUND).on("POST", SEARCH, results(), results(swapped))
    async with connect(CRM, api) as crm:
        found = await crm.observe(RECORD, STAGE)
    marker_search = body(api.requests[2])
    assert marker_search["query"] == "bt7k2xq9"
    assert marker_search["filterGroups"] == []
    assert found == [
        {**swapped["properties"], "_id": "600", "_matched_by": "marker", "_created_ts": CREATED}
    ]


@pytest.mark.anyio
async def test_nothing_anywhere_is_an_empty_list() -> None:
    api = FakeApi().on("GET", BY_EMAIL, NOT_FOUND).on("POST", SEARCH, results())
    async with connect(CRM, api) as crm:
        assert await crm.observe(RECORD, STAGE) == []
    assert [r.method for r in api.requests] == ["GET", "POST", "POST"]


@pytest.mark.anyio
async def test_properties_option_replaces_the_default_but_keeps_email() -> None:
    cfg = ToolConfig(name="crm", type="hubspot", options={"properties": ["firstname", "jobtitle"]})
    api = FakeApi().on("GET", BY_EMAIL, NOT_FOUND).on("POST", SEARCH, results())
    async with connect(cfg, api) as crm:
        await crm.observe(RECORD, StageConfig(name="crm", tool="crm"))
    assert api.requests[0].url.params.get_list("properties") == ["email", "firstname", "jobtitle"]


@pytest.mark.anyio
async def test_429_without_body_is_retried_after_retry_after() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    api = (
        FakeApi()
        .on("GET", BY_EMAIL, httpx.Response(200, json=ADA))
        .on("POST", SEARCH, httpx.Response(429, headers={"Retry-After": "2"}), results(ADA))
    )
    retry = RetryPolicy(wait=wait_none(), sleep=sleep)
    async with connect(CRM, api, retry=retry) as crm:
        found = await crm.observe(RECORD, STAGE)
    assert slept == [2.0]
    assert len(found) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "error"),
    [
        pytest.param(httpx.Response(401, json={"category": "INVALID_AUTHENTICATION"}), AuthError),
        pytest.param(httpx.Response(403, json={"category": "MISSING_SCOPES"}), AuthError),
        pytest.param(httpx.ReadTimeout("slow"), Unreachable),
        pytest.param(httpx.Response(200, text="<html>"), ApiError),
    ],
)
async def test_errors_are_typed(answer: httpx.Response | Exception, error: type[Exception]) -> None:
    api = FakeApi().on("GET", BY_EMAIL, answer)
    async with connect(CRM, api) as crm:
        with pytest.raises(error):
            await crm.observe(RECORD, STAGE)


@pytest.mark.anyio
async def test_cleanup_archives_only_our_contacts_and_is_idempotent() -> None:
    twin = contact("513", email=RECORD.email)
    swapped = contact("600", email="ada@wrong.example.com", lastname="Probe-bt7k2xq9")
    stranger = contact("700", email="someone@example.org", lastname="Lovelace")
    api = (
        FakeApi()
        .on("GET", BY_EMAIL, httpx.Response(200, json=ADA), NOT_FOUND)
        # first cleanup: the index knows all; second: it still lists 513 (lag)
        .on(
            "POST", SEARCH, results(ADA, twin), results(swapped, stranger), results(twin), results()
        )
        .on("GET", f"{CONTACTS}/513", httpx.Response(200, json=twin), NOT_FOUND)
        .on("GET", f"{CONTACTS}/600", httpx.Response(200, json=swapped))
        .on("GET", f"{CONTACTS}/700", httpx.Response(200, json=stranger))
        .on("DELETE", f"{CONTACTS}/512", httpx.Response(204))
        .on("DELETE", f"{CONTACTS}/513", httpx.Response(204))
        .on("DELETE", f"{CONTACTS}/600", httpx.Response(204))
    )
    async with connect(CRM, api) as crm:
        assert await crm.cleanup(RECORD) == 3
        deleted = [r.url.path for r in api.sent("DELETE")]
        assert deleted == [f"{CONTACTS}/512", f"{CONTACTS}/513", f"{CONTACTS}/600"]
        assert await crm.cleanup(RECORD) == 0
    assert len(api.sent("DELETE")) == 3


@pytest.mark.anyio
async def test_cleanup_counts_an_already_archived_contact_as_gone() -> None:
    api = (
        FakeApi()
        .on("GET", BY_EMAIL, httpx.Response(200, json=ADA))
        .on("POST", SEARCH, results())
        .on("DELETE", f"{CONTACTS}/512", NOT_FOUND)
    )
    async with connect(CRM, api) as crm:
        assert await crm.cleanup(RECORD) == 0


# -- hubspot_forms ----------------------------------------------------------------------------

FORM = ToolConfig(
    name="form",
    type="hubspot_forms",
    options={"portal_id": "62515", "form_guid": "78c2891f-ebdd-44c0-bd94-15c012bbbfbf"},
)
SUBMIT = "/submissions/v3/integration/submit/62515/78c2891f-ebdd-44c0-bd94-15c012bbbfbf"
THANKS = httpx.Response(200, json={"inlineMessage": "Thanks for submitting the form."})


@pytest.mark.anyio
async def test_form_submission_body() -> None:
    api = FakeApi().on("POST", SUBMIT, THANKS)
    async with connect(FORM, api) as form:
        await form.inject(RECORD, StageConfig(name="form", tool="form"))
    [req] = api.requests
    assert str(req.url).startswith("https://api.hsforms.com/submissions/v3/integration/submit/")
    assert "authorization" not in req.headers
    assert body(req) == {
        "fields": [
            {"objectTypeId": "0-1", "name": "email", "value": RECORD.email},
            {"objectTypeId": "0-1", "name": "firstname", "value": "Ada"},
            {"objectTypeId": "0-1", "name": "lastname", "value": "Probe-bt7k2xq9"},
            {"objectTypeId": "0-1", "name": "phone", "value": RECORD.phone},
            {"objectTypeId": "0-1", "name": "company", "value": "Baton Probe bt7k2xq9"},
            {"objectTypeId": "0-1", "name": "signup_date", "value": RECORD.date.isoformat()},
        ],
        "context": {"pageName": "Baton probe"},
    }


@pytest.mark.anyio
@pytest.mark.parametrize("consent", [True, False])
async def test_form_sends_marketing_consent_when_a_subscription_is_configured(
    consent: bool,
) -> None:
    cfg = ToolConfig(
        name="form",
        type="hubspot_forms",
        credentials={"token": "pat-na1-test"},
        options={**FORM.options, "subscription_type_id": "999", "page_uri": "https://x/{marker}"},
    )
    path = SUBMIT.replace("/submit/", "/secure/submit/")
    api = FakeApi().on("POST", path, THANKS)
    record = make_record("bt7k2xq9", {"marketing_consent": consent})
    async with connect(cfg, api) as form:
        await form.inject(record, StageConfig(name="form", tool="form"))
    [req] = api.requests
    assert req.headers["authorization"] == "Bearer pat-na1-test"
    sent = body(req)
    assert sent["context"] == {"pageName": "Baton probe", "pageUri": "https://x/bt7k2xq9"}
    assert sent["legalConsentOptions"] == {
        "consent": {
            "consentToProcess": True,
            "text": "I agree.",
            "communications": [
                {"value": consent, "subscriptionTypeId": 999, "text": "Send me news."}
            ],
        }
    }


@pytest.mark.anyio
async def test_form_rejection_is_an_api_error_with_hubspots_reason() -> None:
    rejected = httpx.Response(
        400,
        json={
            "status": "error",
            "message": "The request is not valid",
            "errors": [{"message": "Error in 'fields.email'.", "errorType": "INVALID_EMAIL"}],
        },
    )
    api = FakeApi().on("POST", SUBMIT, rejected)
    async with connect(FORM, api) as form:
        with pytest.raises(ApiError, match="INVALID_EMAIL"):
            await form.inject(RECORD, StageConfig(name="form", tool="form"))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"portal_id": ""}, "portal_id", id="no-portal"),
        pytest.param({"subscription_type_id": "marketing"}, "subscription_type_id", id="bad-sub"),
    ],
)
async def test_form_config_errors(options: dict[str, str], message: str) -> None:
    cfg = ToolConfig(name="form", type="hubspot_forms", options={**FORM.options, **options})
    with pytest.raises(ConfigError, match=message):
        async with connect(cfg, FakeApi()):
            pass
