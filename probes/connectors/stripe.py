"""``stripe``: find the test record's customer and its invoices (https://docs.stripe.com/api).

Authenticated with a secret key (``credentials.token``, a test-mode ``sk_test_...`` key is
the sane choice), sent as ``Authorization: Bearer``. Requests with a body are form-encoded;
every request here is either a query string or has no body.

Customers are found with the list endpoint (``GET /v1/customers?email=``), which is
immediately consistent; only when that finds nothing does the connector ask search
(``GET /v1/customers/search``) for the marker, because search lags behind writes ("under a
minute, up to an hour during outages": https://docs.stripe.com/search). Invoices come from
``GET /v1/invoices?customer=``, also a list. Test mode allows 25 requests/s; the default
here is 20.

Many records at once (``observe_batch``): Stripe is listed, not searched. One round is
``GET /v1/customers?created[gte]=<earliest injection - 5 s>&limit=100``, following
``starting_after`` while ``has_more``, and the customers are matched to the looks locally: a
customer whose ``email`` equals the record's exactly (as the ``email=`` filter compares,
case-sensitively) is matched by ``email``; when a look has none of those, customers carrying
its marker in email, name, description or metadata are matched by ``marker``. A look only
takes objects created since its own injection (less the skew). Only when some
``object: invoice`` look has a customer does the round also list
``GET /v1/invoices?created[gte]=...`` (paginated the same way) and give each look the invoices
of its customers. A round costs ceil(C/100) + ceil(I/100) requests for the C customers and I
invoices created in its window, whatever the number of looks (1 request while no look's
customer exists yet).

The per-record path (``email=`` list, then the marker search when nothing is listed, then
``invoices?customer=`` per customer) stays for a look whose ``since`` is 0 (``observe()`` of
one record, a run without an injection time) or older than ``LIST_WINDOW_S`` (1 hour): the
shared window starts at the oldest look, and one old look would make every round page through
an hour or more of the account's customers. Such looks cost 1 + (1 per customer) requests
each; the marker search is asked only for a ``thorough`` look (``observe()`` always is). A
list cut short by ``MAX_PAGES`` covers the looks injected after the oldest object it read;
the others take the per-record path too.

A 404 on a list or search route means the base URL is wrong (``BadUrl``), unless Stripe's own
``resource_missing`` error says an object named in the request (a customer) is gone.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from ..config import StageConfig, ToolConfig
from ..errors import ApiError, ConfigError, ConnectorError
from ..record import TestRecord
from . import register
from ._base import Connector, Look, LookResult, ObservedRecord
from ._http import ToolHttp
from ._util import epoch, expected_fields, flatten, json_body, option

#: Stripe's page size cap; a test record has a handful of objects at most.
PAGE = 100
#: Looks injected within this many seconds share the round's ``created[gte]`` lists; older
#: ones (and ``since`` 0) are asked per record.
LIST_WINDOW_S = 3600.0
#: Clock skew allowed between Baton and Stripe when bounding ``created``.
SKEW_S = 5.0
#: Pages one windowed list follows in a round at most (10,000 objects).
MAX_PAGES = 100
OBJECTS = ("invoice", "customer")
INVOICE_FIELDS = (
    "id",
    "customer",
    "customer_email",
    "customer_name",
    "customer_phone",
    "amount_due",
    "amount_paid",
    "amount_remaining",
    "subtotal",
    "total",
    "currency",
    "status",
    "description",
    "number",
    "collection_method",
    "due_date",
    "created",
)
CUSTOMER_FIELDS = ("id", "email", "name", "phone", "description", "currency", "created")
LINE_FIELDS = ("amount", "currency", "description", "quantity")
#: Invoice states that must be voided rather than deleted (paid and void ones stay as they are).
VOIDABLE = ("open", "uncollectible")

StripeObject = dict[str, Any]


@register
class Stripe(Connector):
    """Invoices (or customers) Stripe holds for the test record."""

    type_name = "stripe"
    default_base_url = "https://api.stripe.com"
    default_rate_limit = 20.0
    can_observe = True
    options_doc: ClassVar[dict[str, str]] = {
        "object": "what to observe: invoice (default; one record per invoice of the record's "
        "customers) or customer",
        "api_version": "Stripe-Version header to pin (optional; default: the account's version)",
    }
    required_credentials = ("token",)
    max_batch = 1000
    stamps_arrival = True  # invoices and customers carry ``created``

    @classmethod
    def auth_headers(cls, tool: ToolConfig) -> dict[str, str]:
        headers = super().auth_headers(tool)
        if version := tool.options.get("api_version"):
            headers["Stripe-Version"] = str(version)
        return headers

    def __init__(self, tool: ToolConfig, http: ToolHttp) -> None:
        super().__init__(tool, http)
        obj = tool.options.get("object", "invoice")
        if obj not in OBJECTS:
            raise ConfigError(f"tools.{tool.name}.object: must be invoice or customer, got {obj!r}")

    async def _list(self, path: str, **params: Any) -> list[StripeObject]:
        """One page of a list or search endpoint (``{"data": [...]}``); a customer that no
        longer exists lists nothing."""
        items, _ = await self._page(path, {**params, "limit": PAGE}, missing_ok=True)
        return items

    async def _page(
        self, path: str, params: dict[str, Any], *, missing_ok: bool
    ) -> tuple[list[StripeObject], bool]:
        """One page: its objects and ``has_more``. With ``missing_ok``, Stripe's
        ``resource_missing`` (an object the request names is gone) is an empty page."""
        resp = await self.http.request(
            "GET",
            path,
            ok=(400,),
            params=params,
            route_must_exist=True,
            object_missing=_resource_missing,
        )
        if self._missing(resp):
            if missing_ok:
                return [], False
            raise ApiError(
                f"{self.name}: GET {path} answered {resp.status_code}: {resp.text[:200]}",
                tool=self.name,
                status_code=resp.status_code,
            )
        data = json_body(resp, self.name)
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(items, list):
            raise ApiError(f"{self.name}: GET {path} answered without data", tool=self.name)
        return [i for i in items if isinstance(i, dict) and "id" in i], data.get("has_more") is True

    async def list_since(self, path: str, gte: int) -> tuple[list[StripeObject], int | None]:
        """Every object ``path`` lists with ``created >= gte``, newest first, following
        ``starting_after`` while ``has_more`` (https://docs.stripe.com/api/pagination), and
        ``None``; or, when ``MAX_PAGES`` stopped it, what was read and the ``created`` of the
        oldest object read: objects created in that second or before may be missing."""
        params: dict[str, Any] = {"created[gte]": gte, "limit": PAGE}
        found: list[StripeObject] = []
        for _ in range(MAX_PAGES):
            items, more = await self._page(path, params, missing_ok=False)
            found += items
            if not more or not items:
                return found, None
            params = {**params, "starting_after": items[-1]["id"]}
        oldest = [c for c in (_created(o) for o in found) if c is not None]
        return found, min(oldest) if oldest else gte

    def _missing(self, resp: httpx.Response) -> bool:
        """404, or Stripe's 400 ``resource_missing``: the object is already gone. Any other
        400 is an ``ApiError``."""
        if resp.status_code == 404:
            return True
        if resp.status_code != 400:
            return False
        try:
            code = resp.json().get("error", {}).get("code")
        except (ValueError, AttributeError):
            code = None
        if code == "resource_missing":
            return True
        raise ApiError(
            f"{self.name}: {resp.request.method} {resp.request.url.path} answered 400: "
            f"{resp.text[:200]}",
            tool=self.name,
            status_code=400,
        )

    async def customers_by_email(self, email: str) -> list[StripeObject]:
        """``GET /v1/customers?email=`` (exact, case-sensitive; immediately consistent).
        https://docs.stripe.com/api/customers/list"""
        return await self._list("/v1/customers", email=email)

    async def customers_by_marker(self, marker: str) -> list[StripeObject]:
        """``GET /v1/customers/search?query=email~"<marker>" OR name~"<marker>"`` (substring
        match; eventually consistent). https://docs.stripe.com/api/customers/search"""
        query = f'email~"{marker}" OR name~"{marker}"'
        return await self._list("/v1/customers/search", query=query)

    async def invoices(self, customer_id: str) -> list[StripeObject]:
        """``GET /v1/invoices?customer=`` (every status). https://docs.stripe.com/api/invoices/list"""
        return await self._list("/v1/invoices", customer=customer_id)

    async def find_customers(
        self, record: TestRecord, *, search: bool = True
    ) -> list[tuple[StripeObject, str]]:
        found = {c["id"]: (c, "email") for c in await self.customers_by_email(record.email)}
        if not found and search:
            for c in await self.customers_by_marker(record.marker):
                found.setdefault(c["id"], (c, "marker"))
        return list(found.values())

    def _object(self, stage: StageConfig) -> str:
        return str(option(self.tool, stage, "object", "invoice"))

    async def observe(self, record: TestRecord, stage: StageConfig) -> list[ObservedRecord]:
        [result] = await self.observe_batch([Look(record, stage, since=0, thorough=True)])
        if isinstance(result, ConnectorError):
            raise result
        return result

    async def observe_batch(self, looks: Sequence[Look]) -> list[LookResult]:
        """Recent looks from the round's shared lists, the others per record (see the module
        docstring for the rule)."""
        now = time.time()
        results: list[LookResult | None] = [None] * len(looks)
        # (A ``since`` a little in the future, from clock skew, counts as recent.)
        recent = [look.since > 0 and now - look.since <= LIST_WINDOW_S for look in looks]
        listed = [i for i, ok in enumerate(recent) if ok]
        single = [i for i, ok in enumerate(recent) if not ok]
        if listed:
            single += await self._observe_listed(looks, listed, results)
        single.sort()
        # Concurrently: the rate limiter spaces the requests, this only overlaps their waits.
        answers = await asyncio.gather(*(self._observe_one(looks[i]) for i in single))
        for i, answer in zip(single, answers, strict=True):
            results[i] = answer
        return [r if r is not None else [] for r in results]

    async def _observe_one(self, look: Look) -> LookResult:
        """The per-record path: ``email=`` list, the marker search (thorough looks only),
        then the invoices of each customer."""
        wanted = expected_fields(look.stage)
        try:
            customers = await self.find_customers(look.record, search=look.thorough)
            if self._object(look.stage) == "customer":
                return [_customer(c, how, wanted) for c, how in customers]
            out: list[ObservedRecord] = []
            for customer, how in customers:
                out += [_invoice(i, how, wanted) for i in await self.invoices(customer["id"])]
            return out
        except ConnectorError as exc:
            return exc

    async def _observe_listed(
        self, looks: Sequence[Look], listed: list[int], results: list[LookResult | None]
    ) -> list[int]:
        """Fill ``results`` for the ``listed`` looks from the windowed lists; return the
        looks those lists did not cover (a list cut short), for the per-record path."""
        uncovered: list[int] = []
        try:
            customers, cut = await self.list_since(
                "/v1/customers", _floor(min(looks[i].since for i in listed) - SKEW_S)
            )
        except ConnectorError as exc:
            for i in listed:
                results[i] = exc
            return uncovered
        invoice_looks: list[tuple[int, list[tuple[StripeObject, str]]]] = []
        for i in listed:
            look = looks[i]
            if cut is not None and _floor(look.since - SKEW_S) <= cut:
                uncovered.append(i)
                continue
            mine = _match(customers, look.record, _floor(look.since - SKEW_S))
            if self._object(look.stage) == "customer":
                wanted = expected_fields(look.stage)
                results[i] = [_customer(c, how, wanted) for c, how in mine]
            elif not mine:
                results[i] = []
            else:
                invoice_looks.append((i, mine))
        if not invoice_looks:
            return uncovered
        try:
            invoices, cut = await self.list_since(
                "/v1/invoices", _floor(min(looks[i].since for i, _ in invoice_looks) - SKEW_S)
            )
        except ConnectorError as exc:
            for i, _ in invoice_looks:
                results[i] = exc
            return uncovered
        by_customer: dict[str, list[StripeObject]] = {}
        for invoice in invoices:
            cid = _customer_id(invoice)
            if cid is not None:
                by_customer.setdefault(cid, []).append(invoice)
        for i, mine in invoice_looks:
            look = looks[i]
            if cut is not None and _floor(look.since - SKEW_S) <= cut:
                uncovered.append(i)
                continue
            wanted = expected_fields(look.stage)
            start = _floor(look.since - SKEW_S)
            results[i] = [
                _invoice(inv, how, wanted)
                for customer, how in mine
                for inv in by_customer.get(str(customer["id"]), [])
                if (_created(inv) or start) >= start
            ]
        return uncovered

    async def cleanup(self, record: TestRecord) -> int:
        """Remove the record's customers and what hangs off them; returns objects removed.

        Per customer: draft invoices ``DELETE /v1/invoices/{id}``
        (https://docs.stripe.com/api/invoices/delete); open or uncollectible ones
        ``POST /v1/invoices/{id}/void`` (https://docs.stripe.com/api/invoices/void; finalized
        invoices cannot be deleted); pending invoice items ``DELETE /v1/invoiceitems/{id}``
        (https://docs.stripe.com/api/invoiceitems/delete); then ``DELETE /v1/customers/{id}``
        (https://docs.stripe.com/api/customers/delete). Only customers that carry the record's
        email or marker are touched. Anything already gone counts as nothing.
        """
        customers = {c["id"]: c for c in await self.customers_by_email(record.email)}
        for c in await self.customers_by_marker(record.marker):
            customers.setdefault(c["id"], c)
        removed = 0
        for cid, customer in customers.items():
            if not _is_ours(customer, record):
                continue
            for invoice in await self.invoices(cid):
                iid = quote(str(invoice["id"]), safe="")
                if invoice.get("status") == "draft":
                    removed += await self._remove("DELETE", f"/v1/invoices/{iid}")
                elif invoice.get("status") in VOIDABLE:
                    removed += await self._remove("POST", f"/v1/invoices/{iid}/void")
            # Deleting a draft can leave its items pending on the customer, so list them after.
            for item in await self._list("/v1/invoiceitems", customer=cid, pending="true"):
                removed += await self._remove(
                    "DELETE", f"/v1/invoiceitems/{quote(str(item['id']), safe='')}"
                )
            removed += await self._remove("DELETE", f"/v1/customers/{quote(cid, safe='')}")
        return removed

    async def _remove(self, method: str, path: str) -> int:
        resp = await self.http.request(
            method, path, ok=(400,), route_must_exist=True, object_missing=_resource_missing
        )
        return 0 if self._missing(resp) else 1


def _project(obj: StripeObject, fields: tuple[str, ...], wanted: list[str]) -> ObservedRecord:
    full = flatten(obj)
    out: ObservedRecord = {k: obj.get(k) for k in fields if k in obj}
    out.update({k: v for k, v in full.items() if k.startswith("metadata.")})
    out.update({k: full[k] for k in wanted if k in full})
    return out


def _invoice(invoice: StripeObject, matched_by: str, wanted: list[str]) -> ObservedRecord:
    out = _project(invoice, INVOICE_FIELDS, wanted)
    if isinstance(out.get("customer"), dict):  # expanded
        out["customer"] = out["customer"].get("id")
    lines = invoice.get("lines")
    data = lines.get("data") if isinstance(lines, dict) else None
    if isinstance(data, list):
        out["lines.count"] = len(data)
        for i, line in enumerate(d for d in data if isinstance(d, dict)):
            out.update({f"lines.{i}.{k}": line[k] for k in LINE_FIELDS if k in line})
            meta = line.get("metadata")
            if isinstance(meta, dict):
                out.update({f"lines.{i}.metadata.{k}": v for k, v in meta.items()})
    out["_id"] = invoice["id"]
    out["_matched_by"] = matched_by
    _stamp(out, invoice)
    return out


def _customer(customer: StripeObject, matched_by: str, wanted: list[str]) -> ObservedRecord:
    out = _project(customer, CUSTOMER_FIELDS, wanted)
    out["_id"] = customer["id"]
    out["_matched_by"] = matched_by
    _stamp(out, customer)
    return out


def _stamp(out: ObservedRecord, obj: StripeObject) -> None:
    """``_created_ts`` from ``created``, which is whole seconds (``_stamp_resolution_s``)."""
    created = epoch(obj.get("created"))
    if created is not None:
        out["_created_ts"] = created
        out["_stamp_resolution_s"] = 1.0


def _match(
    customers: list[StripeObject], record: TestRecord, start: int
) -> list[tuple[StripeObject, str]]:
    """The record's customers among ``customers`` created at ``start`` or later (none can be
    older than the run's injection; a record email fixed in config is shared by every run):
    those with its exact email (what the ``email=`` filter finds), else those carrying its
    marker (what the search found)."""
    recent = [c for c in customers if (_created(c) or start) >= start]
    by_email = [(c, "email") for c in recent if c.get("email") == record.email]
    if by_email:
        return by_email
    return [(c, "marker") for c in recent if _is_ours(c, record)]


def _customer_id(invoice: StripeObject) -> str | None:
    customer = invoice.get("customer")
    if isinstance(customer, dict):  # expanded
        customer = customer.get("id")
    return customer if isinstance(customer, str) else None


def _created(obj: StripeObject) -> int | None:
    created = obj.get("created")
    return created if isinstance(created, int) and not isinstance(created, bool) else None


def _floor(ts: float) -> int:
    """Stripe's ``created`` is whole seconds."""
    return math.floor(ts)


def _resource_missing(resp: httpx.Response) -> bool:
    """Stripe's own answer for an object that does not exist: ``error.code`` is
    ``resource_missing``. A 404 without it ("Unrecognized request URL", an HTML page) means
    the URL is wrong."""
    try:
        data = resp.json()
    except ValueError:
        return False
    error = data.get("error") if isinstance(data, dict) else None
    return isinstance(error, dict) and error.get("code") == "resource_missing"


def _is_ours(customer: StripeObject, record: TestRecord) -> bool:
    if str(customer.get("email") or "").casefold() == record.email.casefold():
        return True
    marker = record.marker.casefold()
    texts = [customer.get("email"), customer.get("name"), customer.get("description")]
    meta = customer.get("metadata")
    if isinstance(meta, dict):
        texts += list(meta.values())
    return any(isinstance(t, str) and marker in t.casefold() for t in texts)
