"""Spec conformance: what the connectors send is what the vendors' published OpenAPI documents
accept, and the canned answers the tests parse are shaped like the real ones.

The documents are kept in ``tests/specs/`` (see its README), loaded through ``_specs``. HubSpot
CRM contacts is OpenAPI 3.0, SendGrid Email Activity 3.1. Stripe has no OpenAPI file here: its
parameter names are checked against its API reference, quoted below.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import httpx
import pytest
from _specs import load_json, stripe_resources
from jsonschema_path import SchemaPath
from openapi_core import (
    V30RequestValidator,
    V30ResponseValidator,
    V31RequestValidator,
    V31ResponseValidator,
)
from openapi_core.datatypes import RequestParameters
from openapi_core.exceptions import OpenAPIError
from openapi_core.security.exceptions import SecurityProviderError
from openapi_core.security.factories import SecurityProviderFactory
from openapi_core.security.providers import BaseProvider
from openapi_schema_validator import OAS30Validator
from werkzeug.datastructures import Headers, ImmutableMultiDict

from baton.probes.config import Expectation, StageConfig, ToolConfig
from baton.probes.connectors import Look
from baton.probes.connectors.testing import FakeApi, connect
from baton.probes.record import make_record

RECORD = make_record("bt7k2xq9")


# -- openapi-core adapters for httpx ----------------------------------------------------------


class OpenAPIRequest:
    """An ``httpx.Request`` as openapi-core reads a request."""

    def __init__(self, request: httpx.Request) -> None:
        self.request = request
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.url.params.multi_items())),
            header=Headers(list(request.headers.items())),
            cookie=ImmutableMultiDict(),
        )

    @property
    def host_url(self) -> str:
        return f"{self.request.url.scheme}://{self.request.url.netloc.decode()}"

    @property
    def path(self) -> str:
        return self.request.url.path

    @property
    def method(self) -> str:
        return self.request.method.lower()

    @property
    def body(self) -> bytes | None:
        return self.request.content or None

    @property
    def content_type(self) -> str:
        return str(self.request.headers.get("content-type", "")).lower()


class OpenAPIResponse:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def content_type(self) -> str:
        return str(self.response.headers.get("content-type", "")).lower()

    @property
    def headers(self) -> Headers:
        return Headers(list(self.response.headers.items()))

    @property
    def data(self) -> bytes | None:
        return self.response.content or None


class BearerOAuth2(BaseProvider):
    """openapi-core cannot check ``oauth2`` schemes (it warns); HubSpot takes OAuth access
    tokens and private app tokens alike as ``Authorization: Bearer``, so check exactly that."""

    def __call__(self, parameters: RequestParameters) -> Any:
        value = parameters.header.get("Authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise SecurityProviderError("no Bearer token")
        return token


class _Security(SecurityProviderFactory):
    def __init__(self) -> None:
        self.PROVIDERS = {**SecurityProviderFactory.PROVIDERS, "oauth2": BearerOAuth2}


@cache
def spec(name: str) -> SchemaPath:
    return SchemaPath.from_dict(load_json(name))


def check(api: RecordingApi, name: str, *, v31: bool = False) -> list[str]:
    """Validate every recorded request, and each JSON success answer it got, against the spec;
    return the operations seen as ``"METHOD /path"``. (Error answers are declared as ``*/*``
    and 204s have no body, which openapi-core cannot check; ``check_error`` covers the first.)
    """
    req_cls = V31RequestValidator if v31 else V30RequestValidator
    resp_cls = V31ResponseValidator if v31 else V30ResponseValidator
    requests = req_cls(
        spec(name),
        security_provider_factory=_Security(),
        forbid_unspecified_additional_properties=True,
    )
    responses = resp_cls(spec(name))
    seen = []
    for request, response in zip(api.requests, api.responses, strict=True):
        wrapped = OpenAPIRequest(request)
        requests.validate(wrapped)
        if response.is_success and response.content:
            responses.validate(wrapped, OpenAPIResponse(response))
        seen.append(f"{request.method} {request.url.path}")
    return seen


def check_error(answer: httpx.Response, name: str, schema: str) -> None:
    """A canned error answer matches the spec's error schema."""
    OAS30Validator((spec(name) / "components" / "schemas" / schema).read_value()).validate(
        answer.json()
    )


class RecordingApi(FakeApi):
    """A FakeApi that also keeps the answers, for response validation."""

    def __init__(self) -> None:
        super().__init__()
        self.responses: list[httpx.Response] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        response = super().__call__(request)
        self.responses.append(response)
        return response


# -- HubSpot CRM contacts v3 ------------------------------------------------------------------

HUBSPOT = "hubspot.crm.contacts.v3.json"
CONTACTS = "/crm/v3/objects/contacts"
BY_EMAIL = f"{CONTACTS}/{RECORD.email}"


def contact(contact_id: str, **props: str) -> dict[str, Any]:
    return {
        "id": contact_id,
        "properties": {"hs_object_id": contact_id, **props},
        "createdAt": "2026-03-07T10:00:00.000Z",
        "updatedAt": "2026-03-07T10:00:01.000Z",
        "archived": False,
    }


def results(*contacts: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"total": len(contacts), "results": list(contacts)})


def batch_read_answer(*found: dict[str, Any], missing: str | None = None) -> httpx.Response:
    """A HubSpot batch read's answer: 200, or 207 with OBJECT_NOT_FOUND for ``missing``."""
    answer: dict[str, Any] = {
        "status": "COMPLETE",
        "results": list(found),
        "startedAt": "2026-03-07T10:00:02.000Z",
        "completedAt": "2026-03-07T10:00:02.100Z",
    }
    if missing is None:
        return httpx.Response(200, json=answer)
    error = {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": "Could not get some CONTACT objects, they may be deleted or not exist.",
        "context": {"ids": [missing]},
        "errors": [],
        "links": {},
    }
    return httpx.Response(207, json={**answer, "numErrors": 1, "errors": [error]})


ADA = contact("512", email=RECORD.email, firstname="Ada", lastname="Probe-bt7k2xq9")
SWAPPED = contact("600", email="ada@wrong.example.com", lastname="Probe-bt7k2xq9")
NOT_FOUND = httpx.Response(
    404,
    json={
        "message": "Object not found.",
        "correlationId": "aeb5f871-7f07-4993-9211-075dc63e7cbf",
        "category": "OBJECT_NOT_FOUND",
    },
)
CRM = ToolConfig(name="crm", type="hubspot", credentials={"token": "pat-na1-test"})
CRM_STAGE = StageConfig(
    name="crm", tool="crm", expect=Expectation(fields={"firstname": "{first_name}"})
)


@pytest.mark.anyio
async def test_hubspot_observe_requests_conform() -> None:
    api = RecordingApi()
    api.on("GET", BY_EMAIL, httpx.Response(200, json=ADA), NOT_FOUND)
    api.on("POST", f"{CONTACTS}/search", results(ADA), results(), results(SWAPPED))
    async with connect(CRM, api) as crm:
        await crm.observe(RECORD, CRM_STAGE)  # found by email
        await crm.observe(RECORD, CRM_STAGE)  # not by email: full-text search by marker
    assert check(api, HUBSPOT) == [
        f"GET {BY_EMAIL}",
        f"POST {CONTACTS}/search",
        f"GET {BY_EMAIL}",
        f"POST {CONTACTS}/search",
        f"POST {CONTACTS}/search",
    ]


@pytest.mark.anyio
async def test_hubspot_cleanup_requests_conform() -> None:
    api = RecordingApi()
    api.on("GET", BY_EMAIL, httpx.Response(200, json=ADA))
    api.on("POST", f"{CONTACTS}/search", results(ADA), results(SWAPPED))
    api.on("GET", f"{CONTACTS}/600", httpx.Response(200, json=SWAPPED))
    api.on("DELETE", f"{CONTACTS}/512", httpx.Response(204))
    api.on("DELETE", f"{CONTACTS}/600", httpx.Response(204))
    async with connect(CRM, api) as crm:
        assert await crm.cleanup(RECORD) == 2
    assert sorted(set(check(api, HUBSPOT))) == [
        f"DELETE {CONTACTS}/512",
        f"DELETE {CONTACTS}/600",
        f"GET {CONTACTS}/600",
        f"GET {BY_EMAIL}",
        f"POST {CONTACTS}/search",
    ]


@pytest.mark.anyio
async def test_hubspot_batch_round_requests_conform() -> None:
    """A thorough round: the batch read by email (207: one email has no contact), the
    ``email IN [...]`` search over two pages, and the marker search for the look without a
    contact; every body, and every answer, as the spec has them."""
    other = make_record("bt000002")
    batch = batch_read_answer(ADA, missing=other.email)
    first_page = httpx.Response(
        200,
        json={
            "total": 2,
            "results": [ADA],
            "paging": {"next": {"after": "1", "link": "?after=1"}},
        },
    )
    api = RecordingApi()
    api.on("POST", f"{CONTACTS}/batch/read", batch)
    api.on("POST", f"{CONTACTS}/search", first_page, results(ADA), results(SWAPPED))
    async with connect(CRM, api) as crm:
        out = await crm.observe_batch(
            [
                Look(RECORD, CRM_STAGE, since=1.0, thorough=True),
                Look(other, CRM_STAGE, since=1.0, thorough=True),
            ]
        )
    assert [[r["_id"] for r in look] for look in out if isinstance(look, list)] == [
        ["512"],
        ["600"],
    ]
    assert check(api, HUBSPOT) == [
        f"POST {CONTACTS}/batch/read",
        f"POST {CONTACTS}/search",
        f"POST {CONTACTS}/search",
        f"POST {CONTACTS}/search",
    ]


def test_hubspot_not_found_answer_is_shaped_like_the_spec() -> None:
    check_error(NOT_FOUND, HUBSPOT, "Error")


SEARCH_OK = {"filterGroups": [], "properties": [], "limit": 1, "after": "0", "sorts": []}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("json_body", "headers", "reason"),
    [
        pytest.param({**SEARCH_OK, "bogus": 1}, {"Authorization": "Bearer x"}, "bogus", id="extra"),
        pytest.param(
            {k: v for k, v in SEARCH_OK.items() if k != "sorts"},
            {"Authorization": "Bearer x"},
            "sorts",
            id="missing-sorts",
        ),
        pytest.param(SEARCH_OK, {"Authorization": "Basic eDp5"}, "[Ss]ecurity", id="not-bearer"),
    ],
)
async def test_the_check_catches_what_the_spec_refuses(
    json_body: dict[str, Any], headers: dict[str, str], reason: str
) -> None:
    api = RecordingApi()
    api.on("POST", f"{CONTACTS}/search", results())
    async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as client:
        await client.post(
            f"https://api.hubapi.com{CONTACTS}/search", json=json_body, headers=headers
        )
    with pytest.raises(OpenAPIError, match=reason):
        check(api, HUBSPOT)


# -- SendGrid Email Activity v3 ---------------------------------------------------------------

SENDGRID = "sendgrid.email_activity.v3.json"
MESSAGE = {
    "from_email": "from@test.com",
    "msg_id": "abc123",
    "subject": "Welcome Ada Probe-bt7k2xq9",
    "to_email": RECORD.email,
    "status": "delivered",
    "opens_count": 0,
    "clicks_count": 0,
    "last_event_time": "2017-10-13T18:56:21Z",
}


@pytest.mark.anyio
async def test_sendgrid_requests_conform() -> None:
    cfg = ToolConfig(
        name="mail",
        type="sendgrid",
        credentials={"token": "SG.test"},
        options={"limit": 25, "fallback_query": 'subject="Welcome {first_name} {last_name}"'},
    )
    api = RecordingApi()
    api.on(
        "GET",
        "/v3/messages",
        httpx.Response(200, json={"messages": [MESSAGE]}),
        httpx.Response(200, json={"messages": []}),
        httpx.Response(200, json={"messages": [MESSAGE]}),
    )
    async with connect(cfg, api) as mail:
        assert len(await mail.observe(RECORD, StageConfig(name="mail", tool="mail"))) == 1
        assert len(await mail.observe(RECORD, StageConfig(name="mail", tool="mail"))) == 1
    assert check(api, SENDGRID, v31=True) == ["GET /v3/messages"] * 3


@pytest.mark.anyio
async def test_sendgrid_batch_query_conforms() -> None:
    cfg = ToolConfig(
        name="mail", type="sendgrid", credentials={"token": "SG.test"}, options={"limit": 400}
    )
    other = make_record("bt000002")
    api = RecordingApi()
    api.on("GET", "/v3/messages", httpx.Response(200, json={"messages": [MESSAGE]}))
    async with connect(cfg, api) as mail:
        looks = [
            Look(make_record(f"bt{i:06d}"), StageConfig(name="m", tool="mail"), 1e9)
            for i in range(3)
        ]
        out = await mail.observe_batch(
            [*looks, Look(other, StageConfig(name="m", tool="mail"), 1e9)]
        )
    assert len(out) == 4
    assert check(api, SENDGRID, v31=True) == ["GET /v3/messages"]
    [request] = api.requests
    assert request.url.params["limit"] == "1000"
    assert " OR " in request.url.params["query"]


# -- Stripe: parameter names from the API reference -------------------------------------------

#: Query parameters each endpoint documents (https://docs.stripe.com/api/customers/list,
#: /customers/search, /invoices/list, /invoiceitems/list); the delete and void endpoints take
#: none the connector uses.
STRIPE_PARAMS = {
    "/v1/customers": {"created", "email", "ending_before", "limit", "starting_after", "test_clock"},
    "/v1/customers/search": {"query", "limit", "page", "expand"},
    "/v1/invoices": {
        "collection_method",
        "created",
        "customer",
        "due_date",
        "ending_before",
        "limit",
        "starting_after",
        "status",
        "subscription",
    },
    "/v1/invoiceitems": {
        "created",
        "customer",
        "ending_before",
        "invoice",
        "limit",
        "pending",
        "starting_after",
    },
}


@pytest.mark.anyio
async def test_stripe_sends_only_documented_parameters() -> None:
    fixtures = stripe_resources()
    customer = {**fixtures["customer"], "email": RECORD.email}
    invoice = {**fixtures["invoice"], "status": "open"}

    def page(*data: dict[str, Any]) -> httpx.Response:
        return httpx.Response(200, json={"object": "list", "has_more": False, "data": list(data)})

    api = RecordingApi()
    api.on("GET", "/v1/customers", page(customer), page(customer), page())
    api.on("GET", "/v1/customers/search", page())
    api.on("GET", "/v1/invoices", page(invoice))
    api.on("GET", "/v1/invoiceitems", page(fixtures["invoiceitem"]))
    api.on("POST", f"/v1/invoices/{invoice['id']}/void", httpx.Response(200, json=invoice))
    api.on("DELETE", f"/v1/invoiceitems/{fixtures['invoiceitem']['id']}", httpx.Response(200))
    api.on("DELETE", f"/v1/customers/{customer['id']}", httpx.Response(200))
    cfg = ToolConfig(name="billing", type="stripe", credentials={"token": "sk_test_123"})
    async with connect(cfg, api) as billing:
        await billing.observe(RECORD, StageConfig(name="b", tool="billing"))
        await billing.cleanup(RECORD)
        await billing.observe(RECORD, StageConfig(name="b", tool="billing"))
    for request in api.requests:
        assert request.headers["authorization"] == "Bearer sk_test_123"
        if request.method == "GET":
            sent = set(request.url.params.keys())
            assert sent <= STRIPE_PARAMS[request.url.path], request.url
        else:
            assert request.content == b"" and not request.url.params, request.url
    assert {r.url.path for r in api.sent("GET")} == set(STRIPE_PARAMS)


@pytest.mark.anyio
async def test_stripe_batch_sends_only_documented_parameters() -> None:
    """The windowed lists send ``created[gte]`` (the ``created`` parameter's ``gte`` key) and
    ``starting_after``; nothing else."""
    import time

    fixtures = stripe_resources()
    now = int(time.time())
    invoice = {**fixtures["invoice"], "customer_email": RECORD.email, "created": now}

    def page(*data: dict[str, Any], more: bool = False) -> httpx.Response:
        return httpx.Response(200, json={"object": "list", "has_more": more, "data": list(data)})

    api = RecordingApi()
    api.on("GET", "/v1/invoices", page(invoice, more=True), page())
    cfg = ToolConfig(name="billing", type="stripe", credentials={"token": "sk_test_123"})
    async with connect(cfg, api) as billing:
        [found] = await billing.observe_batch(
            [Look(RECORD, StageConfig(name="b", tool="billing"), since=now - 10)]
        )
    assert isinstance(found, list) and len(found) == 1
    assert [r.url.params.get("starting_after") for r in api.requests] == [None, invoice["id"]]
    for request in api.requests:
        sent = {key.split("[", 1)[0] for key in request.url.params}
        assert sent <= STRIPE_PARAMS[request.url.path], request.url
        assert set(request.url.params.keys()) - {"limit", "starting_after"} == {"created[gte]"}
