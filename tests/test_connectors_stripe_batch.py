"""Stripe ``observe_batch``: per round, one windowed invoices list for the invoice looks
(matched by the invoice's own ``customer_email``, else the marker it carries) and one windowed
customers list for the customer looks, each read only when some look needs it; old looks per
record; a 404 on a list is a wrong URL."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from _specs import stripe_resources

from baton.probes.config import Expectation, StageConfig, ToolConfig
from baton.probes.connectors import Look
from baton.probes.connectors import stripe as stripe_module
from baton.probes.connectors.stripe import _customer, _invoice
from baton.probes.connectors.testing import FakeApi, connect
from baton.probes.errors import BadUrl, Unreachable
from baton.probes.record import TestRecord, make_record

BILLING = ToolConfig(name="billing", type="stripe", credentials={"token": "sk_test_123"})
INVOICE_STAGE = StageConfig(
    name="invoice",
    tool="billing",
    expect=Expectation(fields={"amount_due": "{amount_cents}", "account_country": "US"}),
)
CUSTOMER_STAGE = StageConfig(name="customer", tool="billing", options={"object": "customer"})
A, B, C, D, E = (
    make_record(m) for m in ("btaaaaaa", "btbbbbbb", "btcccccc", "btdddddd", "btgggggg")
)
INVOICE_WANTED = ["amount_due", "account_country"]


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return stripe_resources()


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


def billed(
    resources: dict[str, Any], ident: str, record: TestRecord, created: int, **kw: Any
) -> dict[str, Any]:
    """An invoice of ``record``'s customer, carrying its email and name as Stripe copies them."""
    fields: dict[str, Any] = {
        "customer_email": record.email,
        "customer_name": record.full_name,
        **kw,
    }
    return make(resources, "invoice", id=ident, created=created, **fields)


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


def stranger_invoices(resources: dict[str, Any], n: int, created: int) -> list[dict[str, Any]]:
    return [
        make(
            resources,
            "invoice",
            id=f"in_s{i:03d}",
            customer=f"cus_s{i:04d}",
            customer_email=f"someone{i}@example.org",
            customer_name="Someone",
            created=created,
        )
        for i in range(n)
    ]


def sent(api: FakeApi) -> list[tuple[str, dict[str, str]]]:
    return [(r.url.path, dict(r.url.params)) for r in api.requests]


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
async def test_invoices_are_listed_once_over_pages_and_matched_by_email_or_marker(
    resources: dict[str, Any],
) -> None:
    now = time.time()
    created = int(now) - 30
    inv_a = billed(resources, "in_a", A, created, customer="cus_a", amount_due=4900)
    # The customer's email was mangled, but the name copied onto the invoice has the marker;
    # the customer is expanded.
    inv_b = billed(
        resources,
        "in_b",
        B,
        created,
        customer={"id": "cus_b", "object": "customer", "email": "ada@wrong.example.com"},
        customer_email="ada@wrong.example.com",
    )
    # An exact match is case-sensitive (as ``email=``): another case is found by the marker.
    inv_c = billed(
        resources, "in_c", C, created, customer_email=C.email.upper(), customer_name=None
    )
    # Only the invoice's metadata carries the marker.
    inv_d = billed(
        resources,
        "in_d",
        D,
        created,
        customer_email=None,
        customer_name=None,
        metadata={"baton": D.marker},
    )
    # A's customer also has a marker-only invoice: an exact email match wins, as per record.
    inv_a_marker = billed(
        resources, "in_a2", A, created, customer_email=None, description=f"for {A.marker}"
    )
    others = stranger_invoices(resources, 147, created)
    invoices = [*others[:120], inv_b, inv_a, inv_c, inv_d, inv_a_marker, *others[120:]]
    assert len(invoices) == 152
    api = FakeApi().on("GET", "/v1/invoices", listing(invoices, url="/v1/invoices"))
    looks = [
        Look(A, INVOICE_STAGE, since=now - 50),
        Look(B, INVOICE_STAGE, since=now - 40, thorough=True),
        Look(C, INVOICE_STAGE, since=now - 40),
        Look(D, INVOICE_STAGE, since=now - 40),
        Look(E, INVOICE_STAGE, since=now - 200),  # nothing billed: still widens the window
    ]
    async with connect(BILLING, api) as billing:
        out = await billing.observe_batch(looks)
    gte = str(math.floor(now - 200 - 5))
    # No customers are listed for invoice looks; 152 invoices, 100 a page.
    assert sent(api) == [
        ("/v1/invoices", {"created[gte]": gte, "limit": "100"}),
        (
            "/v1/invoices",
            {"created[gte]": gte, "limit": "100", "starting_after": invoices[99]["id"]},
        ),
    ]
    assert out == [
        [_invoice(inv_a, "email", INVOICE_WANTED)],
        [_invoice(inv_b, "marker", INVOICE_WANTED)],
        [_invoice(inv_c, "marker", INVOICE_WANTED)],
        [_invoice(inv_d, "marker", INVOICE_WANTED)],
        [],
    ]
    assert isinstance(out[0], list) and out[0][0]["amount_due"] == 4900
    assert out[0][0]["_matched_by"] == "email"
    assert isinstance(out[1], list) and out[1][0]["customer"] == "cus_b"  # expanded, flattened
    assert out[1][0]["_matched_by"] == "marker"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "stages",
    [("customer",), ("invoice",), ("customer", "invoice")],
    ids=["customer-looks", "invoice-looks", "both"],
)
async def test_each_list_is_read_only_for_the_looks_that_need_it(
    resources: dict[str, Any], stages: tuple[str, ...]
) -> None:
    """Customer looks read only the customers list, invoice looks only the invoices list,
    each from the earliest of its own looks; a round with both reads each once."""
    now = time.time()
    # Each record has a customer and an invoice: a look gets only the kind its stage asks for.
    cus_a = ours(resources, "cus_a", A, int(now))
    cus_b = ours(resources, "cus_b", B, int(now))
    inv_a = billed(resources, "in_a", A, int(now), customer="cus_a")
    inv_b = billed(resources, "in_b", B, int(now), customer="cus_b")
    api = (
        FakeApi()
        .on("GET", "/v1/customers", listing([cus_b, cus_a]))
        .on("GET", "/v1/invoices", listing([inv_b, inv_a], url="/v1/invoices"))
    )
    kinds = {
        "customer": (A, CUSTOMER_STAGE, now - 30, "/v1/customers", _customer(cus_a, "email", [])),
        "invoice": (
            B,
            INVOICE_STAGE,
            now - 20,
            "/v1/invoices",
            _invoice(inv_b, "email", INVOICE_WANTED),
        ),
    }
    looks = []
    for kind in stages:
        record, stage, since, _, _ = kinds[kind]
        # Two looks of a kind, the later one does not set the window.
        looks += [Look(record, stage, since=since), Look(record, stage, since=since + 5)]
    async with connect(BILLING, api) as billing:
        out = await billing.observe_batch(looks)
    assert sent(api) == [
        (kinds[kind][3], {"created[gte]": str(math.floor(kinds[kind][2] - 5)), "limit": "100"})
        for kind in stages
    ]
    assert out == [[kinds[kind][4]] for kind in stages for _ in range(2)]


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["invoice", "customer"])
async def test_batch_projection_equals_the_per_record_path(
    resources: dict[str, Any], kind: str
) -> None:
    now = time.time()
    cus_a = ours(resources, "cus_a", A, int(now))
    # Stripe copies the customer's email and name onto the invoice (the fixture's are null).
    inv = billed(resources, "in_a", A, int(now), customer="cus_a")
    assert inv["lines"]["data"]  # the lines are projected too
    stage = INVOICE_STAGE if kind == "invoice" else CUSTOMER_STAGE
    api = (
        FakeApi()
        .on("GET", "/v1/customers", listing([cus_a]))
        .on("GET", "/v1/invoices", listing([inv], url="/v1/invoices"))
    )
    async with connect(BILLING, api) as billing:
        single = await billing.observe(A, stage)
        per_record = sent(api)
        [batched] = await billing.observe_batch([Look(A, stage, since=now - 10)])
    assert batched == single and len(single) == 1
    assert single[0]["_id"] == ("in_a" if kind == "invoice" else "cus_a")
    assert single[0]["_matched_by"] == "email"
    gte = str(math.floor(now - 10 - 5))
    if kind == "invoice":
        assert per_record == [
            ("/v1/customers", {"email": A.email, "limit": "100"}),
            ("/v1/invoices", {"customer": "cus_a", "limit": "100"}),
        ]
        windowed = [("/v1/invoices", {"created[gte]": gte, "limit": "100"})]
    else:
        assert per_record == [("/v1/customers", {"email": A.email, "limit": "100"})]
        windowed = [("/v1/customers", {"created[gte]": gte, "limit": "100"})]
    assert sent(api) == [*per_record, *windowed]


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
    """With an email fixed in config every run shares it: an earlier run's customer and
    invoice, created before this run injected (less the skew), are not this run's."""
    shared = make_record("bteeeeee", {"email": "qa@example.com"})
    earlier = make_record("btffffff", {"email": "qa@example.com"})
    now = time.time()
    start = math.floor(now - 20 - 5)  # the shared run's window: its injection less the skew
    old_customer = ours(resources, "cus_old", earlier, int(now) - 100)
    new_customer = ours(resources, "cus_new", shared, int(now) - 10)
    old_invoice = billed(resources, "in_old", earlier, int(now) - 100, customer="cus_old")
    before = billed(resources, "in_before", earlier, start - 1, customer="cus_old")
    edge = billed(resources, "in_edge", shared, start, customer="cus_new")
    new_invoice = billed(resources, "in_new", shared, int(now) - 5, customer="cus_new")
    api = (
        FakeApi()
        .on("GET", "/v1/customers", listing([new_customer, old_customer]))
        .on(
            "GET",
            "/v1/invoices",
            listing([new_invoice, edge, before, old_invoice], url="/v1/invoices"),
        )
    )
    looks = [
        Look(shared, INVOICE_STAGE, since=now - 20),
        Look(shared, CUSTOMER_STAGE, since=now - 20),
        Look(earlier, INVOICE_STAGE, since=now - 110),
        Look(earlier, CUSTOMER_STAGE, since=now - 110),
    ]
    async with connect(BILLING, api) as billing:
        out = await billing.observe_batch(looks)
    gte = str(math.floor(now - 110 - 5))
    assert sent(api) == [
        ("/v1/customers", {"created[gte]": gte, "limit": "100"}),
        ("/v1/invoices", {"created[gte]": gte, "limit": "100"}),
    ]
    ids = [[r["_id"] for r in result] if isinstance(result, list) else result for result in out]
    assert ids == [
        ["in_new", "in_edge"],
        ["cus_new"],
        # The earlier run's looks see everything with the shared email, as ``email=`` would.
        ["in_new", "in_edge", "in_before", "in_old"],
        ["cus_new", "cus_old"],
    ]
    assert all(
        r["_matched_by"] == "email" for result in out if isinstance(result, list) for r in result
    )


# -- a 404 blames only what was checked -------------------------------------------------------


def unrecognized(path: str) -> httpx.Response:
    """Stripe's own 404 for a route it does not serve."""
    return httpx.Response(
        404,
        json={
            "error": {
                "message": f"Unrecognized request URL (GET: {path}). Please see "
                "https://stripe.com/docs or we can help at https://support.stripe.com/.",
                "type": "invalid_request_error",
            }
        },
    )


UNRECOGNIZED = unrecognized("/v1/customers")
WRONG = ToolConfig(
    name="stripe", type="stripe", base_url="https://api.example", credentials={"token": "sk_x"}
)


@pytest.mark.anyio
@pytest.mark.parametrize("body", ["stripe-unrecognized-url", "html"])
@pytest.mark.parametrize("kind", ["customer", "invoice"])
async def test_a_404_on_the_list_a_look_reads_is_a_wrong_base_url(kind: str, body: str) -> None:
    """A customer look reads the customers list, an invoice look the invoices list: a 404
    there fails the looks that list served (``BadUrl`` naming the URL), not the others."""
    now = time.time()
    path, stage, other_path, other_stage = (
        ("/v1/customers", CUSTOMER_STAGE, "/v1/invoices", INVOICE_STAGE)
        if kind == "customer"
        else ("/v1/invoices", INVOICE_STAGE, "/v1/customers", CUSTOMER_STAGE)
    )
    answer = (
        unrecognized(path)
        if body == "stripe-unrecognized-url"
        else httpx.Response(404, html="<h1>Not Found</h1>")
    )
    api = FakeApi().on("GET", path, answer).on("GET", other_path, listing([], url=other_path))
    looks = [
        Look(A, stage, since=now - 10),
        Look(B, stage, since=now - 10),
        Look(C, other_stage, since=now - 10),
    ]
    async with connect(WRONG, api) as billing:
        out = await billing.observe_batch(looks)
    assert sorted(r.url.path for r in api.requests) == sorted([path, other_path])
    assert isinstance(out[0], BadUrl) and isinstance(out[1], BadUrl)
    url = f"https://api.example{path}"
    assert str(out[0]) == str(out[1])
    assert str(out[0]) == f"stripe: GET {url} answered 404: is tools.stripe.base_url right?"
    assert out[2] == []


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
