"""Stripe ``observe_batch``: one windowed customers list (and invoices list when needed) per
round, matched to the looks locally; old looks per record; a 404 on a list is a wrong URL."""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from probes.config import Expectation, StageConfig, ToolConfig
from probes.connectors import Look
from probes.connectors import stripe as stripe_module
from probes.connectors._testing import FakeApi, connect
from probes.connectors.stripe import _customer, _invoice
from probes.errors import BadUrl, Unreachable
from probes.record import TestRecord, make_record

FIXTURES = Path(__file__).parents[2] / "shared" / "specs" / "stripe.fixtures3.json"
BILLING = ToolConfig(name="billing", type="stripe", credentials={"token": "sk_test_123"})
INVOICE_STAGE = StageConfig(
    name="invoice",
    tool="billing",
    expect=Expectation(fields={"amount_due": "{amount_cents}", "account_country": "US"}),
)
CUSTOMER_STAGE = StageConfig(name="customer", tool="billing", options={"object": "customer"})
A, B, C, D = (make_record(m) for m in ("btaaaaaa", "btbbbbbb", "btcccccc", "btdddddd"))


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    if not FIXTURES.exists():
        pytest.skip(f"Stripe fixtures not found at {FIXTURES} (the shared/specs checkout)")
    data: dict[str, Any] = json.loads(FIXTURES.read_text())["resources"]
    return data


def make(resources: dict[str, Any], kind: str, /, **changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = copy.deepcopy(resources[kind])
    obj.update(changes)
    return obj


def listing(
    objects: list[dict[str, Any]], url: str = "/v1/customers"
) -> Callable[[httpx.Request], httpx.Response]:
    """A Stripe list endpoint over ``objects`` (newest first): ``created[gte]``, ``limit``,
    ``starting_after``, ``email``, ``customer``."""

    def answer(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        rows = list(objects)
        if "created[gte]" in params:
            rows = [o for o in rows if o["created"] >= int(params["created[gte]"])]
        if "email" in params:
            rows = [o for o in rows if o.get("email") == params["email"]]
        if "customer" in params:
            rows = [o for o in rows if o.get("customer") == params["customer"]]
        if "starting_after" in params:
            ids = [o["id"] for o in rows]
            rows = rows[ids.index(params["starting_after"]) + 1 :]
        limit = int(params.get("limit", "10"))
        return httpx.Response(
            200,
            json={
                "object": "list",
                "url": url,
                "has_more": len(rows) > limit,
                "data": rows[:limit],
            },
        )

    return answer


def search_page(*objects: dict[str, Any]) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "object": "search_result",
            "url": "/v1/customers/search",
            "has_more": False,
            "next_page": None,
            "data": list(objects),
        },
    )


def ours(
    resources: dict[str, Any], ident: str, record: TestRecord, created: int, **kw: Any
) -> dict[str, Any]:
    fields: dict[str, Any] = {"email": record.email, "name": record.full_name, **kw}
    return make(resources, "customer", id=ident, created=created, **fields)


def strangers(
    resources: dict[str, Any], n: int, created: int, prefix: str = "s"
) -> list[dict[str, Any]]:
    return [
        make(
            resources,
            "customer",
            id=f"cus_{prefix}{i:04d}",
            email=f"someone{i}@example.org",
            name="Someone",
            created=created,
        )
        for i in range(n)
    ]


@pytest.mark.anyio
async def test_customers_are_listed_once_over_pages_and_matched_by_email_or_marker(
    resources: dict[str, Any],
) -> None:
    now = time.time()
    since = now - 60
    created = int(now) - 30
    by_email = ours(resources, "cus_a", A, created)
    by_name = ours(resources, "cus_b", B, created, email="ada@wrong.example.com")
    # Stripe's email filter is case-sensitive: another case is found by its marker.
    by_case = ours(resources, "cus_c", C, created, email=C.email.upper(), name="Someone")
    customers = [
        *strangers(resources, 100, created),
        by_email,
        *strangers(resources, 98, created, "t"),
        by_name,
        *strangers(resources, 4, created, "u"),
        by_case,
    ]
    api = FakeApi().on("GET", "/v1/customers", listing(customers))
    looks = [Look(r, CUSTOMER_STAGE, since=since) for r in (A, B, C, D)]
    async with connect(BILLING, api) as billing:
        out = await billing.observe_batch(looks)
    gte = str(math.floor(since - 5))
    assert [dict(r.url.params) for r in api.requests] == [
        {"created[gte]": gte, "limit": "100"},
        {"created[gte]": gte, "limit": "100", "starting_after": customers[99]["id"]},
        {"created[gte]": gte, "limit": "100", "starting_after": customers[199]["id"]},
    ]
    assert out == [
        [_customer(by_email, "email", [])],
        [_customer(by_name, "marker", [])],
        [_customer(by_case, "marker", [])],
        [],
    ]


@pytest.mark.anyio
async def test_invoices_are_listed_once_and_given_to_the_looks_customers(
    resources: dict[str, Any],
) -> None:
    now = time.time()
    created = int(now) - 30
    cus_a = ours(resources, "cus_a", A, created)
    cus_b = ours(resources, "cus_b", B, created, email="ada@wrong.example.com")
    inv_a = make(
        resources, "invoice", id="in_a", customer="cus_a", created=created, amount_due=4900
    )
    inv_b = make(
        resources,
        "invoice",
        id="in_b",
        customer={"id": "cus_b", "object": "customer"},
        created=created,
    )
    others = [
        make(resources, "invoice", id=f"in_s{i:03d}", customer=f"cus_s{i:04d}", created=created)
        for i in range(150)
    ]
    api = (
        FakeApi()
        .on("GET", "/v1/customers", listing([cus_b, cus_a, *strangers(resources, 3, created)]))
        .on("GET", "/v1/invoices", listing([*others[:120], inv_b, inv_a, *others[120:]]))
    )
    looks = [
        Look(A, INVOICE_STAGE, since=now - 50),
        Look(B, INVOICE_STAGE, since=now - 40, thorough=True),
        Look(D, INVOICE_STAGE, since=now - 200),  # no customer: does not widen the invoices
    ]
    async with connect(BILLING, api) as billing:
        out = await billing.observe_batch(looks)
    invoice_requests = api.sent("GET", "/v1/invoices")
    assert len(invoice_requests) == 2  # 152 invoices, 100 a page
    assert invoice_requests[0].url.params["created[gte]"] == str(math.floor(now - 50 - 5))
    assert api.sent("GET", "/v1/customers")[0].url.params["created[gte]"] == str(
        math.floor(now - 200 - 5)
    )
    wanted = ["amount_due", "account_country"]
    assert out == [
        [_invoice(inv_a, "email", wanted)],
        [_invoice(inv_b, "marker", wanted)],
        [],
    ]
    assert isinstance(out[0], list) and out[0][0]["amount_due"] == 4900
    assert isinstance(out[1], list) and out[1][0]["customer"] == "cus_b"  # expanded, flattened


@pytest.mark.anyio
async def test_invoices_are_not_listed_when_no_look_needs_them(resources: dict[str, Any]) -> None:
    now = time.time()
    cus_a = ours(resources, "cus_a", A, int(now))
    api = FakeApi().on("GET", "/v1/customers", listing([cus_a]))
    looks = [Look(A, CUSTOMER_STAGE, since=now - 10), Look(B, INVOICE_STAGE, since=now - 10)]
    async with connect(BILLING, api) as billing:
        out = await billing.observe_batch(looks)
    assert [r.url.path for r in api.requests] == ["/v1/customers"]
    assert out == [[_customer(cus_a, "email", [])], []]


@pytest.mark.anyio
async def test_batch_projection_equals_the_per_record_path(resources: dict[str, Any]) -> None:
    now = time.time()
    cus_a = ours(resources, "cus_a", A, int(now))
    inv = make(resources, "invoice", id="in_a", customer="cus_a", created=int(now))
    api = (
        FakeApi()
        .on("GET", "/v1/customers", listing([cus_a]))
        .on("GET", "/v1/invoices", listing([inv], url="/v1/invoices"))
    )
    async with connect(BILLING, api) as billing:
        single = await billing.observe(A, INVOICE_STAGE)
        [batched] = await billing.observe_batch([Look(A, INVOICE_STAGE, since=now - 10)])
    assert batched == single and len(single) == 1
    per_record, windowed = api.sent("GET", "/v1/customers")
    assert dict(per_record.url.params) == {"email": A.email, "limit": "100"}
    assert "created[gte]" in windowed.url.params


@pytest.mark.anyio
@pytest.mark.parametrize("age", [0.0, 7200.0], ids=["since-0", "two-hours-old"])
async def test_old_looks_take_the_per_record_path(resources: dict[str, Any], age: float) -> None:
    now = time.time()
    since = 0.0 if age == 0 else now - age
    cus_a = ours(resources, "cus_a", A, int(now) - 7000)
    inv = make(resources, "invoice", id="in_a", customer="cus_a", created=int(now) - 7000)
    api = (
        FakeApi()
        .on("GET", "/v1/customers", listing([cus_a]))
        .on("GET", "/v1/invoices", listing([inv], url="/v1/invoices"))
        .on("GET", "/v1/customers/search", search_page())
    )
    looks = [
        Look(A, INVOICE_STAGE, since=since),
        Look(B, INVOICE_STAGE, since=since),  # not thorough: no search
        Look(C, INVOICE_STAGE, since=since, thorough=True),  # thorough: searched by marker
    ]
    async with connect(BILLING, api) as billing:
        out = await billing.observe_batch(looks)
    # The looks are asked concurrently: compare without order.
    sent = sorted((r.url.path, sorted(r.url.params.items())) for r in api.requests)
    assert sent == sorted(
        (path, sorted(params.items()))
        for path, params in [
            ("/v1/customers", {"email": A.email, "limit": "100"}),
            ("/v1/invoices", {"customer": "cus_a", "limit": "100"}),
            ("/v1/customers", {"email": B.email, "limit": "100"}),
            ("/v1/customers", {"email": C.email, "limit": "100"}),
            (
                "/v1/customers/search",
                {"query": f'email~"{C.marker}" OR name~"{C.marker}"', "limit": "100"},
            ),
        ]
    )
    assert out == [[_invoice(inv, "email", ["amount_due", "account_country"])], [], []]


@pytest.mark.anyio
async def test_a_failed_list_fails_the_looks_it_served_only(resources: dict[str, Any]) -> None:
    now = time.time()

    def customers(request: httpx.Request) -> httpx.Response:
        if "created[gte]" in request.url.params:
            return httpx.Response(502)
        return listing([])(request)

    api = FakeApi().on("GET", "/v1/customers", customers)
    looks = [
        Look(A, CUSTOMER_STAGE, since=now - 10),
        Look(B, CUSTOMER_STAGE, since=now - 20),
        Look(C, CUSTOMER_STAGE, since=now - 7200),  # per record: unaffected
    ]
    async with connect(BILLING, api) as billing:
        out = await billing.observe_batch(looks)
    assert isinstance(out[0], Unreachable) and out[1] is out[0]
    assert out[2] == []


@pytest.mark.anyio
async def test_a_list_cut_short_covers_only_the_looks_after_its_oldest_object(
    resources: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stripe_module, "MAX_PAGES", 2)
    now = time.time()
    newest = strangers(resources, 100, int(now) - 10)
    older = strangers(resources, 200, int(now) - 20)[100:]
    cus_b = ours(resources, "cus_b", B, int(now) - 500)
    api = FakeApi().on("GET", "/v1/customers", listing([*newest, *older, cus_b]))
    looks = [
        Look(A, CUSTOMER_STAGE, since=now - 5),  # injected after the oldest object read
        Look(B, CUSTOMER_STAGE, since=now - 600),  # maybe beyond the pages read: per record
    ]
    async with connect(BILLING, api) as billing:
        out = await billing.observe_batch(looks)
    assert [r.url.params.get("email") for r in api.requests] == [None, None, B.email]
    assert out == [[], [_customer(cus_b, "email", [])]]


@pytest.mark.anyio
async def test_a_look_takes_only_objects_created_since_its_injection(
    resources: dict[str, Any],
) -> None:
    """With an email fixed in config every run shares it: an earlier run's customer (and its
    invoice), created before this run injected, is not this run's."""
    shared = make_record("bteeeeee", {"email": "qa@example.com"})
    earlier = make_record("btffffff", {"email": "qa@example.com"})
    now = time.time()
    old_customer = ours(resources, "cus_old", earlier, int(now) - 100)
    new_customer = ours(resources, "cus_new", shared, int(now) - 10)
    old_invoice = make(
        resources, "invoice", id="in_old", customer="cus_new", created=int(now) - 100
    )
    new_invoice = make(resources, "invoice", id="in_new", customer="cus_new", created=int(now) - 5)
    api = (
        FakeApi()
        .on("GET", "/v1/customers", listing([new_customer, old_customer]))
        .on("GET", "/v1/invoices", listing([new_invoice, old_invoice], url="/v1/invoices"))
    )
    looks = [
        Look(shared, INVOICE_STAGE, since=now - 20),
        Look(earlier, CUSTOMER_STAGE, since=now - 110),
    ]
    async with connect(BILLING, api) as billing:
        invoices, customers = await billing.observe_batch(looks)
    assert isinstance(invoices, list) and [r["_id"] for r in invoices] == ["in_new"]
    # The earlier run's look sees both customers with the shared email, as ``email=`` would.
    assert isinstance(customers, list) and [r["_id"] for r in customers] == ["cus_new", "cus_old"]


# -- a 404 blames only what was checked -------------------------------------------------------

UNRECOGNIZED = httpx.Response(
    404,
    json={
        "error": {
            "message": "Unrecognized request URL (GET: /v1/customers). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/.",
            "type": "invalid_request_error",
        }
    },
)
WRONG = ToolConfig(
    name="stripe", type="stripe", base_url="https://api.example", credentials={"token": "sk_x"}
)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "answer",
    [UNRECOGNIZED, httpx.Response(404, html="<h1>Not Found</h1>")],
    ids=["stripe-unrecognized-url", "html"],
)
async def test_a_404_on_the_customers_list_is_a_wrong_base_url(answer: httpx.Response) -> None:
    now = time.time()
    api = FakeApi().on("GET", "/v1/customers", answer)
    async with connect(WRONG, api) as billing:
        out = await billing.observe_batch(
            [Look(A, INVOICE_STAGE, since=now - 10), Look(B, INVOICE_STAGE, since=now - 10)]
        )
    assert all(isinstance(r, BadUrl) for r in out)
    assert str(out[0]) == (
        "stripe: GET https://api.example/v1/customers answered 404: is tools.stripe.base_url right?"
    )


@pytest.mark.anyio
async def test_a_404_on_the_search_route_is_a_wrong_base_url() -> None:
    api = (
        FakeApi()
        .on("GET", "/v1/customers", listing([]))
        .on("GET", "/v1/customers/search", UNRECOGNIZED)
    )
    async with connect(BILLING, api) as billing:
        with pytest.raises(BadUrl, match="/v1/customers/search"):
            await billing.observe(A, INVOICE_STAGE)


@pytest.mark.anyio
async def test_cleanup_raises_on_a_wrong_base_url() -> None:
    api = FakeApi().on("GET", "/v1/customers", UNRECOGNIZED)
    async with connect(WRONG, api) as billing:
        with pytest.raises(BadUrl):
            await billing.cleanup(A)


@pytest.mark.anyio
async def test_cleanup_reads_resource_missing_as_gone_but_a_bare_404_as_a_wrong_url(
    resources: dict[str, Any],
) -> None:
    cus_a = ours(resources, "cus_a", A, 1)
    gone = httpx.Response(
        404,
        json={"error": {"code": "resource_missing", "message": "No such customer: 'cus_a'"}},
    )
    api = (
        FakeApi()
        .on("GET", "/v1/customers", listing([cus_a]))
        .on("GET", "/v1/customers/search", search_page())
        .on("GET", "/v1/invoices", gone)  # the customer went away meanwhile: nothing to do
        .on("GET", "/v1/invoiceitems", httpx.Response(404, text="Not Found"))
    )
    async with connect(BILLING, api) as billing:
        with pytest.raises(BadUrl, match="/v1/invoiceitems"):
            await billing.cleanup(A)
