"""Stripe ``cleanup_batch``: recent removals share one windowed list each of customers,
invoices and pending invoice items; known ids the window missed are retrieved; then one write
per object (drafts deleted, open invoices voided, pending items and customers deleted). Old
removals take the per-record path. Only what carries the removal's email or marker is
touched."""

from __future__ import annotations

import copy
import re
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from _specs import stripe_resources

from baton.probes.config import ToolConfig
from baton.probes.connectors import Removal
from baton.probes.connectors import stripe as stripe_module
from baton.probes.connectors.testing import FakeApi, connect
from baton.probes.errors import ApiError, BadUrl, Unreachable
from baton.probes.record import TestRecord, make_record

BILLING = ToolConfig(name="billing", type="stripe", credentials={"token": "sk_test_123"})
WRONG = ToolConfig(
    name="billing",
    type="stripe",
    base_url="https://stripe.example/wrong",
    credentials={"token": "sk_test_123"},
)


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return stripe_resources()


def _error(status: int, message: str, code: str | None = None) -> httpx.Response:
    error: dict[str, Any] = {"message": message, "type": "invalid_request_error"}
    if code:
        error["code"] = code
    return httpx.Response(status, json={"error": error})


class FakeStripe(FakeApi):
    """A small stateful Stripe: customers, invoices and invoice items, listed newest first
    (``created[gte]``, ``email``, ``customer``, ``pending``, ``limit``, ``starting_after``),
    retrieved, deleted and voided as Stripe does. ``fail`` maps ``(method, path)`` to an
    answer that replaces the real one (``"GET /v1/invoices?created"``: windowed lists
    only)."""

    def __init__(self, resources: dict[str, Any]) -> None:
        super().__init__()
        self.resources = resources
        self.customers: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.items: dict[str, dict[str, Any]] = {}
        self.deleted: set[str] = set()
        self.fail: dict[str, httpx.Response] = {}

    # -- building the account -----------------------------------------------------------
    def customer(self, cid: str, created: int, **fields: Any) -> dict[str, Any]:
        obj = copy.deepcopy(self.resources["customer"])
        obj.update(id=cid, created=created, metadata={}, **fields)
        self.customers[cid] = obj
        return obj

    def ours(self, cid: str, record: TestRecord, created: int, **fields: Any) -> dict[str, Any]:
        return self.customer(
            cid, created, **{"email": record.email, "name": record.full_name, **fields}
        )

    def invoice(
        self, iid: str, customer: str, created: int, status: str = "open", **fields: Any
    ) -> dict[str, Any]:
        obj = copy.deepcopy(self.resources["invoice"])
        owner = self.customers.get(customer, {})
        obj.update(
            {
                "id": iid,
                "customer": customer,
                "created": created,
                "status": status,
                "customer_email": owner.get("email"),
                "customer_name": owner.get("name"),
                "description": None,
                "metadata": {},
                **fields,
            }
        )
        self.invoices[iid] = obj
        return obj

    def item(
        self, iid: str, customer: str, date: int, invoice: str | None = None
    ) -> dict[str, Any]:
        obj = copy.deepcopy(self.resources["invoiceitem"])
        obj.update(id=iid, customer=customer, date=date, invoice=invoice)
        self.items[iid] = obj
        return obj

    # -- answering ----------------------------------------------------------------------
    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        params = request.url.params
        key = f"{request.method} {path}"
        windowed = f"{key}?created" if "created[gte]" in params else None
        for name in (windowed, key):
            if name is not None and name in self.fail:
                answer = self.fail[name]
                return httpx.Response(
                    answer.status_code, headers=answer.headers, content=answer.content
                )
        m = re.fullmatch(r"/v1/(customers|invoices|invoiceitems)(?:/([^/]+))?(/void)?", path)
        if m is None:
            return httpx.Response(404, json={"error": {"message": "Unrecognized request URL"}})
        kind, oid, void = m.groups()
        table = {"customers": self.customers, "invoices": self.invoices, "invoiceitems": self.items}
        rows = table[kind]
        if oid == "search":
            marker = re.search(r'~"([^"]+)"', params["query"])
            assert marker is not None
            word = marker.group(1)
            hits = [
                c
                for c in rows.values()
                if word in (c.get("email") or "") or word in (c.get("name") or "")
            ]
            return httpx.Response(
                200, json={"object": "search_result", "has_more": False, "data": hits}
            )
        if oid is None:
            return self._list(kind, rows, params)
        if request.method == "GET":
            if oid in self.deleted:
                return httpx.Response(200, json={"id": oid, "object": "customer", "deleted": True})
            if oid not in rows:
                return _error(404, f"No such {kind[:-1]}: '{oid}'", "resource_missing")
            return httpx.Response(200, json=rows[oid])
        if oid not in rows:
            return _error(404, f"No such {kind[:-1]}: '{oid}'", "resource_missing")
        obj = rows[oid]
        if void:
            if obj["status"] not in ("open", "uncollectible"):
                return _error(
                    400, f"You can only void an open invoice; this one is {obj['status']}"
                )
            obj["status"] = "void"
            return httpx.Response(200, json=obj)
        if kind == "invoices":
            if obj["status"] != "draft":
                return _error(400, "You can only delete draft invoices")
            for item in self.items.values():  # its items go back to pending
                if item["invoice"] == oid:
                    item["invoice"] = None
        del rows[oid]
        if kind == "customers":
            self.deleted.add(oid)
        return httpx.Response(200, json={"id": oid, "object": kind[:-1], "deleted": True})

    def _list(self, kind: str, rows: dict[str, Any], params: httpx.QueryParams) -> httpx.Response:
        def created(o: dict[str, Any]) -> int:
            return int(o["created"] if "created" in o else o["date"])

        found = sorted(rows.values(), key=lambda o: -created(o))
        if "created[gte]" in params:
            found = [o for o in found if created(o) >= int(params["created[gte]"])]
        if "email" in params:
            found = [o for o in found if o.get("email") == params["email"]]
        if "customer" in params:
            found = [o for o in found if o.get("customer") == params["customer"]]
        if params.get("pending") == "true":
            found = [o for o in found if o.get("invoice") is None]
        if "starting_after" in params:
            ids = [o["id"] for o in found]
            found = found[ids.index(params["starting_after"]) + 1 :]
        limit = int(params.get("limit", "10"))
        return httpx.Response(
            200,
            json={
                "object": "list",
                "url": f"/v1/{kind}",
                "has_more": len(found) > limit,
                "data": found[:limit],
            },
        )

    # -- reading what was asked ---------------------------------------------------------
    def tally(self) -> Counter[str]:
        """Requests by kind: ``GET /v1/customers`` (lists), ``GET /v1/customers/{id}``,
        ``POST void``, ``DELETE /v1/invoices`` ..."""
        out: Counter[str] = Counter()
        for r in self.requests:
            parts = r.url.path.split("/")
            if r.url.path.endswith("/void"):
                out["POST void"] += 1
            elif len(parts) > 3 and parts[3] != "search":
                out[f"{r.method} /v1/{parts[2]}/{{id}}"] += 1
            else:
                out[f"{r.method} {r.url.path}"] += 1
        return out


def records(n: int) -> list[TestRecord]:
    return [make_record(f"bt{i:06d}") for i in range(n)]


@pytest.mark.anyio
async def test_a_window_round_costs_its_list_pages_and_one_write_per_object(
    resources: dict[str, Any],
) -> None:
    now = int(time.time())
    api = FakeStripe(resources)
    recs = records(250)
    removals = []
    for i, rec in enumerate(recs):
        api.ours(f"cus_{i:04d}", rec, now - 30)
        api.invoice(f"in_{i:04d}", f"cus_{i:04d}", now - 29)
        api.item(f"ii_{i:04d}", f"cus_{i:04d}", now - 29, invoice=f"in_{i:04d}")
        if i % 25 == 0:
            api.item(f"ii_p{i:04d}", f"cus_{i:04d}", now - 28)  # still pending
        removals.append(
            Removal(rec, known_ids=(f"in_{i:04d}",), thorough=i % 2 == 0, since=now - 60)
        )
    for i in range(150):  # other people's customers, created in the window too
        api.customer(f"cus_s{i:04d}", now - 20, email=f"someone{i}@example.org", name="Someone")
        api.invoice(f"in_s{i:04d}", f"cus_s{i:04d}", now - 20)
        api.item(f"ii_s{i:04d}", f"cus_s{i:04d}", now - 20)
    async with connect(BILLING, api) as billing:
        assert billing.max_removals == 1000
        out = await billing.cleanup_batch(removals)
    assert out == [3 if i % 25 == 0 else 2 for i in range(250)]
    assert api.tally() == {
        "GET /v1/customers": 4,  # 400 customers
        "GET /v1/invoices": 4,  # 400 invoices
        "GET /v1/invoiceitems": 2,  # 10 + 150 pending items
        "POST void": 250,
        "DELETE /v1/invoiceitems/{id}": 10,
        "DELETE /v1/customers/{id}": 250,
    }
    gte = str(now - 60 - 5)
    for r in api.sent("GET"):
        assert r.url.params["created[gte]"] == gte
    assert all(r.url.params["pending"] == "true" for r in api.sent("GET", "/v1/invoiceitems"))
    assert len(api.customers) == 150 and all(c.startswith("cus_s") for c in api.customers)
    assert all(api.invoices[f"in_s{i:04d}"]["status"] == "open" for i in range(150))
    # Reads come first; writes are invoices, then pending items, then customers.
    kinds = [r.url.path.split("/")[2] for r in api.requests if r.method != "GET"]
    assert kinds == sorted(kinds, key=["invoices", "invoiceitems", "customers"].index)


@pytest.mark.anyio
async def test_drafts_are_deleted_open_and_uncollectible_voided_the_rest_left(
    resources: dict[str, Any],
) -> None:
    now = int(time.time())
    api = FakeStripe(resources)
    [rec] = records(1)
    api.ours("cus_a", rec, now - 30)
    api.invoice("in_draft", "cus_a", now - 29, status="draft")
    api.item("ii_draft", "cus_a", now - 29, invoice="in_draft")
    for status in ("open", "uncollectible", "paid", "void"):
        api.invoice(f"in_{status}", "cus_a", now - 28, status=status)
    async with connect(BILLING, api) as billing:
        assert await billing.cleanup_batch([Removal(rec, since=now - 60)]) == [5]
    writes = [(r.method, r.url.path) for r in api.requests if r.method != "GET"]
    assert sorted(writes[:3]) == [
        ("DELETE", "/v1/invoices/in_draft"),
        ("POST", "/v1/invoices/in_open/void"),
        ("POST", "/v1/invoices/in_uncollectible/void"),
    ]
    # The draft's item went back to pending: listed after the invoices, then deleted.
    assert writes[3:] == [
        ("DELETE", "/v1/invoiceitems/ii_draft"),
        ("DELETE", "/v1/customers/cus_a"),
    ]
    items_list = api.sent("GET", "/v1/invoiceitems")[0]
    assert api.requests.index(items_list) > api.requests.index(api.sent("DELETE")[0])
    assert {i: api.invoices[i]["status"] for i in api.invoices} == {
        "in_open": "void",
        "in_uncollectible": "void",
        "in_paid": "paid",
        "in_void": "void",
    }


@pytest.mark.anyio
async def test_known_ids_the_window_missed_are_retrieved_and_only_ours_removed(
    resources: dict[str, Any],
) -> None:
    now = int(time.time())
    old = now - 86_400
    api = FakeStripe(resources)
    [rec] = records(1)
    api.ours("cus_old", rec, old)  # ours, but created before the window
    api.invoice("in_old", "cus_old", old)
    api.item("ii_old", "cus_old", old)
    api.invoice("in_orphan", "cus_gone", old, customer_email=rec.email)  # its customer is gone
    api.customer("cus_stranger", old, email="rosen@example.org", name="Rosen")
    api.invoice("in_stranger", "cus_stranger", old)
    known = ("cus_old", "in_orphan", "cus_stranger", "in_stranger", "in_missing")
    async with connect(BILLING, api) as billing:
        out = await billing.cleanup_batch([Removal(rec, known, thorough=False, since=now - 60)])
    assert out == [4]  # in_old voided, ii_old and cus_old deleted, in_orphan voided
    assert api.tally() == {
        "GET /v1/customers": 1,
        "GET /v1/invoices": 2,  # the window, then cus_old's own
        "GET /v1/customers/{id}": 2,  # cus_old, cus_stranger
        "GET /v1/invoices/{id}": 3,  # in_orphan, in_stranger, in_missing
        "GET /v1/invoiceitems": 1,  # cus_old's pending items
        "POST void": 2,
        "DELETE /v1/invoiceitems/{id}": 1,
        "DELETE /v1/customers/{id}": 1,
    }
    assert api.invoices["in_stranger"]["status"] == "open"
    assert "cus_stranger" in api.customers and "cus_old" not in api.customers
    assert api.invoices["in_orphan"]["status"] == "void"
    per_customer = api.sent("GET", "/v1/invoiceitems")[0].url.params
    assert dict(per_customer) == {"customer": "cus_old", "pending": "true", "limit": "100"}


@pytest.mark.anyio
async def test_a_known_customer_that_is_not_ours_is_never_deleted(
    resources: dict[str, Any],
) -> None:
    """Even when the window lists it: the known id alone is no licence to delete."""
    now = int(time.time())
    api = FakeStripe(resources)
    [rec] = records(1)
    api.customer("cus_x", now - 10, email="rosen@example.org", name="Rosen")
    api.invoice("in_x", "cus_x", now - 10)
    async with connect(BILLING, api) as billing:
        out = await billing.cleanup_batch([Removal(rec, ("cus_x", "in_x"), since=now - 60)])
    assert out == [0]
    assert not [r for r in api.requests if r.method != "GET"]


@pytest.mark.anyio
@pytest.mark.parametrize("since", [0.0, -7200.0], ids=["unknown", "two-hours-ago"])
async def test_old_or_unknown_since_takes_the_per_record_path(
    resources: dict[str, Any], since: float
) -> None:
    now = int(time.time())
    api = FakeStripe(resources)
    a, b = records(2)
    api.ours("cus_a", a, now - 7000)
    api.invoice("in_a", "cus_a", now - 7000)
    api.ours("cus_b", b, now - 7000, email="mangled@example.org")  # found by its marker
    api.invoice("in_b", "cus_b", now - 7000, status="draft")
    when = since if since == 0 else now + since
    removals = [Removal(a, thorough=False, since=when), Removal(b, thorough=True, since=when)]
    async with connect(BILLING, api) as billing:
        assert await billing.cleanup_batch(removals) == [2, 2]
    assert api.tally() == {
        "GET /v1/customers": 2,  # email= per record
        "GET /v1/customers/search": 1,  # the thorough one only
        "GET /v1/invoices": 2,
        "GET /v1/invoiceitems": 2,
        "POST void": 1,
        "DELETE /v1/invoices/{id}": 1,
        "DELETE /v1/customers/{id}": 2,
    }
    assert not any("created[gte]" in r.url.params for r in api.requests)
    assert api.customers == {}


@pytest.mark.anyio
async def test_a_failing_customers_list_fails_every_recent_removal_it_served(
    resources: dict[str, Any],
) -> None:
    now = int(time.time())
    api = FakeStripe(resources)
    a, b, c = records(3)
    api.ours("cus_c", c, now - 7000)
    api.fail["GET /v1/customers?created"] = httpx.Response(500, json={"error": {}})
    removals = [
        Removal(a, since=now - 60),
        Removal(b, since=now - 30),
        Removal(c, thorough=False, since=now - 7200),  # per record: not served by the list
    ]
    async with connect(BILLING, api) as billing:
        out = await billing.cleanup_batch(removals)
    assert isinstance(out[0], Unreachable) and out[0] is out[1]
    assert out[2] == 1


@pytest.mark.anyio
async def test_a_failing_invoices_list_fails_the_removals_with_customers_only(
    resources: dict[str, Any],
) -> None:
    now = int(time.time())
    api = FakeStripe(resources)
    a, b = records(2)
    api.ours("cus_a", a, now - 30)
    api.fail["GET /v1/invoices?created"] = httpx.Response(503, json={"error": {}})
    async with connect(BILLING, api) as billing:
        out = await billing.cleanup_batch([Removal(a, since=now - 60), Removal(b, since=now - 60)])
    assert isinstance(out[0], Unreachable)
    assert out[1] == 0
    assert not [r for r in api.requests if r.method != "GET"]  # cus_a kept for the retry
    assert "cus_a" in api.customers


@pytest.mark.anyio
async def test_a_404_on_the_items_list_is_a_wrong_url_for_the_removals_it_served(
    resources: dict[str, Any],
) -> None:
    now = int(time.time())
    api = FakeStripe(resources)
    [a] = records(1)
    api.ours("cus_a", a, now - 30)
    api.fail["GET /v1/invoiceitems?created"] = httpx.Response(404, text="Not Found")
    async with connect(BILLING, api) as billing:
        [out] = await billing.cleanup_batch([Removal(a, since=now - 60)])
    assert isinstance(out, BadUrl) and "/v1/invoiceitems" in str(out)
    assert "cus_a" in api.customers


@pytest.mark.anyio
async def test_a_wrong_base_url_fails_every_removal(resources: dict[str, Any]) -> None:
    api = FakeApi().on("GET", "/wrong/v1/customers", httpx.Response(404, text="Not Found"))
    now = time.time()
    async with connect(WRONG, api) as billing:
        out = await billing.cleanup_batch(
            [Removal(r, since=s) for r, s in zip(records(2), (now - 60, 0.0), strict=True)]
        )
    assert all(isinstance(o, BadUrl) for o in out), out


@pytest.mark.anyio
async def test_a_refused_write_fails_its_removal_and_keeps_its_customer(
    resources: dict[str, Any],
) -> None:
    now = int(time.time())
    api = FakeStripe(resources)
    a, b = records(2)
    api.ours("cus_a", a, now - 30)
    api.invoice("in_a", "cus_a", now - 30)
    api.ours("cus_b", b, now - 30)
    api.invoice("in_b", "cus_b", now - 30)
    api.fail["POST /v1/invoices/in_a/void"] = _error(400, "This invoice cannot be voided")
    async with connect(BILLING, api) as billing:
        out = await billing.cleanup_batch([Removal(a, since=now - 60), Removal(b, since=now - 60)])
    assert isinstance(out[0], ApiError) and out[1] == 2
    assert "cus_a" in api.customers and "cus_b" not in api.customers


@pytest.mark.anyio
async def test_a_second_round_removes_nothing(resources: dict[str, Any]) -> None:
    now = int(time.time())
    api = FakeStripe(resources)
    recs = records(3)
    for i, rec in enumerate(recs):
        api.ours(f"cus_{i}", rec, now - 30)
        api.invoice(f"in_{i}", f"cus_{i}", now - 30, status="draft" if i == 0 else "open")
    removals = [Removal(r, (f"in_{i}",), since=now - 60) for i, r in enumerate(recs)]
    async with connect(BILLING, api) as billing:
        assert await billing.cleanup_batch(removals) == [2, 2, 2]
        api.requests.clear()
        assert await billing.cleanup_batch(removals) == [0, 0, 0]
    assert api.tally() == {
        "GET /v1/customers": 1,
        "GET /v1/invoices": 1,  # the known invoices: two void now
        "GET /v1/invoices/{id}": 1,  # the deleted draft: resource_missing
    }


@pytest.mark.anyio
async def test_a_customer_two_runs_share_an_email_goes_to_the_later_run(
    resources: dict[str, Any],
) -> None:
    now = int(time.time())
    api = FakeStripe(resources)
    a = make_record("bt000001", {"email": "fixed@example.com"})
    b = make_record("bt000002", {"email": "fixed@example.com"})
    api.customer("cus_1", now - 90, email="fixed@example.com")
    api.customer("cus_2", now - 40, email="fixed@example.com")
    api.customer("cus_0", now - 300, email="fixed@example.com")  # before both runs
    removals = [Removal(a, since=now - 100), Removal(b, since=now - 50)]
    async with connect(BILLING, api) as billing:
        assert await billing.cleanup_batch(removals) == [1, 1]
    assert set(api.customers) == {"cus_0"}


@pytest.mark.anyio
async def test_a_list_cut_short_sends_the_removals_it_left_out_per_record(
    resources: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stripe_module, "MAX_PAGES", 1)
    now = int(time.time())
    api = FakeStripe(resources)
    a, b = records(2)
    for i in range(100):
        api.customer(f"cus_s{i:03d}", now - 10, email=f"s{i}@example.org")
    api.ours("cus_b", b, now - 5)
    api.ours("cus_a", a, now - 90)  # older than the one page read
    # The page read reaches back to now - 10: b's window (from now - 8) is covered, a's not.
    removals = [Removal(a, thorough=False, since=now - 100), Removal(b, since=now - 3)]
    async with connect(BILLING, api) as billing:
        assert await billing.cleanup_batch(removals) == [1, 1]
    by_email = [r for r in api.sent("GET", "/v1/customers") if "email" in r.url.params]
    assert [r.url.params["email"] for r in by_email] == [a.email]
    assert set(api.customers) == {f"cus_s{i:03d}" for i in range(100)}
