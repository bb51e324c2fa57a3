from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from _specs import stripe_resources

from baton.probes.config import Expectation, StageConfig, ToolConfig
from baton.probes.connectors.testing import FakeApi, connect
from baton.probes.errors import ApiError, AuthError, ConfigError, Unreachable
from baton.probes.record import make_record

RECORD = make_record("bt7k2xq9")
BILLING = ToolConfig(name="billing", type="stripe", credentials={"token": "sk_test_123"})
STAGE = StageConfig(
    name="invoice",
    tool="billing",
    expect=Expectation(fields={"amount_due": "{amount_cents}", "account_country": "US"}),
)
CUS = "cus_QXg1o8vcGmoR32"


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return stripe_resources()


def fixture(resources: dict[str, Any], kind: str, /, **changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = copy.deepcopy(resources[kind])
    obj.update(changes)
    return obj


def page(
    *objects: dict[str, Any], url: str = "/v1/customers", search: bool = False
) -> httpx.Response:
    kind = {"object": "search_result", "next_page": None} if search else {"object": "list"}
    return httpx.Response(200, json={**kind, "url": url, "has_more": False, "data": list(objects)})


def missing(kind: str, ident: str) -> httpx.Response:
    return httpx.Response(
        404,
        json={
            "error": {
                "code": "resource_missing",
                "message": f"No such {kind}: '{ident}'",
                "param": "id",
                "type": "invalid_request_error",
            }
        },
    )


@pytest.fixture
def customer(resources: dict[str, Any]) -> dict[str, Any]:
    return fixture(resources, "customer", email=RECORD.email, name=RECORD.full_name)


@pytest.fixture
def invoice(resources: dict[str, Any]) -> dict[str, Any]:
    return fixture(
        resources,
        "invoice",
        amount_due=4900,
        total=4900,
        customer_email=RECORD.email,
        customer_name=RECORD.full_name,
        description="Baton Probe bt7k2xq9",
        metadata={"marker": "bt7k2xq9", "payment_method": "card"},
    )


@pytest.mark.anyio
async def test_observe_lists_the_customer_then_its_invoices(
    customer: dict[str, Any], invoice: dict[str, Any]
) -> None:
    api = (
        FakeApi()
        .on("GET", "/v1/customers", page(customer))
        .on("GET", "/v1/invoices", page(invoice, url="/v1/invoices"))
    )
    async with connect(BILLING, api) as billing:
        [found] = await billing.observe(RECORD, STAGE)
    by_email, invoices = api.requests
    assert dict(by_email.url.params) == {"email": RECORD.email, "limit": "100"}
    assert dict(invoices.url.params) == {"customer": CUS, "limit": "100"}
    assert by_email.headers["authorization"] == "Bearer sk_test_123"
    assert "stripe-version" not in by_email.headers
    assert found == {
        "id": "in_1Pgc6tB7WZ01zgkWu9fdqL6I",
        "customer": CUS,
        "customer_email": RECORD.email,
        "customer_name": "Ada Probe-bt7k2xq9",
        "customer_phone": None,
        "amount_due": 4900,
        "amount_paid": 0,
        "amount_remaining": 1000,
        "subtotal": 1000,
        "total": 4900,
        "currency": "usd",
        "status": "draft",
        "description": "Baton Probe bt7k2xq9",
        "number": None,
        "collection_method": "charge_automatically",
        "due_date": 1234567890,
        "created": 1234567890,
        "metadata.marker": "bt7k2xq9",
        "metadata.payment_method": "card",
        "lines.count": 1,
        "lines.0.amount": 1000,
        "lines.0.currency": "usd",
        "lines.0.description": "My First Invoice Item (created for API docs)",
        "lines.0.quantity": 1,
        "account_country": "US",  # asked for by the stage's expectation
        "_id": "in_1Pgc6tB7WZ01zgkWu9fdqL6I",
        "_matched_by": "email",
        "_created_ts": 1234567890.0,  # the invoice's `created`, for the engine's timing
        "_stamp_resolution_s": 1.0,  # `created` is whole seconds
    }


@pytest.mark.anyio
async def test_customer_not_listed_by_email_is_searched_by_marker(
    customer: dict[str, Any], invoice: dict[str, Any]
) -> None:
    swapped = {**customer, "email": "ada@wrong.example.com"}
    api = (
        FakeApi()
        .on("GET", "/v1/customers", page())
        .on("GET", "/v1/customers/search", page(swapped, search=True))
        .on("GET", "/v1/invoices", page(invoice, url="/v1/invoices"))
    )
    async with connect(BILLING, api) as billing:
        found = await billing.observe(RECORD, STAGE)
    search = api.requests[1]
    assert dict(search.url.params) == {
        "query": 'email~"bt7k2xq9" OR name~"bt7k2xq9"',
        "limit": "100",
    }
    assert [(f["_id"], f["_matched_by"]) for f in found] == [(invoice["id"], "marker")]


@pytest.mark.anyio
async def test_customer_without_invoice_yet_and_no_customer_are_empty(
    customer: dict[str, Any],
) -> None:
    api = (
        FakeApi()
        .on("GET", "/v1/customers", page(customer), page())
        .on("GET", "/v1/invoices", page(url="/v1/invoices"))
        .on("GET", "/v1/customers/search", page(search=True))
    )
    async with connect(BILLING, api) as billing:
        assert await billing.observe(RECORD, STAGE) == []
        assert await billing.observe(RECORD, STAGE) == []


@pytest.mark.anyio
async def test_object_customer_observes_customers(customer: dict[str, Any]) -> None:
    cfg = ToolConfig(
        name="billing", type="stripe", options={"object": "customer", "api_version": "2025-03-31"}
    )
    customer["metadata"] = {"source": "zapier"}
    api = FakeApi().on("GET", "/v1/customers", page(customer))
    async with connect(cfg, api) as billing:
        found = await billing.observe(RECORD, StageConfig(name="c", tool="billing"))
    assert api.requests[0].headers["stripe-version"] == "2025-03-31"
    assert found == [
        {
            "id": CUS,
            "email": RECORD.email,
            "name": "Ada Probe-bt7k2xq9",
            "phone": None,
            "description": None,
            "currency": "usd",
            "created": 1234567890,
            "metadata.source": "zapier",
            "_id": CUS,
            "_matched_by": "email",
            "_created_ts": 1234567890.0,
            "_stamp_resolution_s": 1.0,
        }
    ]


@pytest.mark.anyio
async def test_cleanup_deletes_drafts_voids_open_invoices_and_deletes_the_customer(
    resources: dict[str, Any], customer: dict[str, Any], invoice: dict[str, Any]
) -> None:
    draft = invoice
    open_ = {**invoice, "id": "in_open", "status": "open"}
    paid = {**invoice, "id": "in_paid", "status": "paid"}
    void = {**invoice, "id": "in_void", "status": "void"}
    pending_item = fixture(resources, "invoiceitem")
    stranger = fixture(resources, "customer", id="cus_other", email="x@example.org", name="Rosen")
    deleted = {
        k: httpx.Response(200, json=resources[f"deleted_{k}"])
        for k in ("invoice", "invoiceitem", "customer")
    }
    voided = httpx.Response(200, json={**open_, "status": "void"})
    api = (
        FakeApi()
        .on("GET", "/v1/customers", page(customer), page())
        .on("GET", "/v1/customers/search", page(stranger, search=True), page(customer, search=True))
        .on("GET", "/v1/invoices", page(draft, open_, paid, void), page(open_ | {"status": "void"}))
        .on("DELETE", f"/v1/invoices/{draft['id']}", deleted["invoice"])
        .on("POST", "/v1/invoices/in_open/void", voided)
        .on("GET", "/v1/invoiceitems", page(pending_item), page())
        .on("DELETE", f"/v1/invoiceitems/{pending_item['id']}", deleted["invoiceitem"])
        .on("DELETE", f"/v1/customers/{CUS}", deleted["customer"], missing("customer", CUS))
    )
    async with connect(BILLING, api) as billing:
        assert await billing.cleanup(RECORD) == 4
        touched = [(r.method, r.url.path) for r in api.requests if r.method != "GET"]
        assert touched == [
            ("DELETE", f"/v1/invoices/{draft['id']}"),
            ("POST", "/v1/invoices/in_open/void"),
            ("DELETE", f"/v1/invoiceitems/{pending_item['id']}"),
            ("DELETE", f"/v1/customers/{CUS}"),
        ]
        items = api.sent("GET", "/v1/invoiceitems")[0]
        assert dict(items.url.params) == {"customer": CUS, "pending": "true", "limit": "100"}
        assert api.sent("POST")[0].content == b""
        # Again: the list no longer has the customer, search still does (lag); nothing left.
        assert await billing.cleanup(RECORD) == 0
    assert not any("cus_other" in str(r.url) for r in api.requests)


@pytest.mark.anyio
async def test_cleanup_of_a_customer_stripe_no_longer_knows(customer: dict[str, Any]) -> None:
    no_such = httpx.Response(
        400, json={"error": {"code": "resource_missing", "message": f"No such customer: '{CUS}'"}}
    )
    api = (
        FakeApi()
        .on("GET", "/v1/customers", page())
        .on("GET", "/v1/customers/search", page(customer, search=True))
        .on("GET", "/v1/invoices", no_such)
        .on("GET", "/v1/invoiceitems", no_such)
        .on("DELETE", f"/v1/customers/{CUS}", missing("customer", CUS))
    )
    async with connect(BILLING, api) as billing:
        assert await billing.cleanup(RECORD) == 0


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "error"),
    [
        pytest.param(
            httpx.Response(401, json={"error": {"message": "Invalid API Key provided"}}), AuthError
        ),
        pytest.param(
            httpx.Response(400, json={"error": {"code": "parameter_unknown", "param": "x"}}),
            ApiError,
        ),
        pytest.param(httpx.Response(502), Unreachable),
        pytest.param(httpx.Response(200, json={"object": "list"}), ApiError),
    ],
)
async def test_errors_are_typed(answer: httpx.Response | Exception, error: type[Exception]) -> None:
    api = FakeApi().on("GET", "/v1/customers", answer)
    async with connect(BILLING, api) as billing:
        with pytest.raises(error):
            await billing.observe(RECORD, STAGE)


@pytest.mark.anyio
async def test_429_is_retried(customer: dict[str, Any]) -> None:
    api = (
        FakeApi()
        .on("GET", "/v1/customers", httpx.Response(429, json={"error": {"code": "rate_limit"}}))
        .on("GET", "/v1/customers", page(customer))
        .on("GET", "/v1/invoices", page(url="/v1/invoices"))
    )
    async with connect(BILLING, api) as billing:
        assert await billing.observe(RECORD, STAGE) == []
    assert len(api.sent("GET", "/v1/customers")) == 2


@pytest.mark.anyio
async def test_unknown_object_option_is_refused() -> None:
    cfg = ToolConfig(name="billing", type="stripe", options={"object": "charge"})
    with pytest.raises(ConfigError, match=r"tools\.billing\.object"):
        async with connect(cfg, FakeApi()):
            pass
