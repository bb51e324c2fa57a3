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

Many cleanups at once (``cleanup_batch``): removals injected within ``LIST_WINDOW_S`` share
the round's windowed lists, from the earliest injection less ``SKEW_S``: ``GET /v1/customers``
(matched locally: a customer created since the removal's own injection that carries its email
or marker, so no search is needed; a customer two removals match goes to the later-injected
run), ``GET /v1/invoices`` (by customer id; listed only when some removal has a customer or a
known invoice id) and, after the invoices are dealt with (deleting a draft can leave its items
pending), ``GET /v1/invoiceitems?pending=true`` (by customer id), each paginated. A known id
(``cus_...``, ``in_...``) the window missed is retrieved (``GET /v1/customers/{id}``,
``GET /v1/invoices/{id}``; ``resource_missing`` or ``deleted`` is gone); a customer found that
way has its invoices and pending items listed per customer. Then, per object, the writes of
``cleanup``, gathered so that only the rate limiter paces them: drafts deleted,
open/uncollectible invoices voided, then pending items deleted, then customers deleted. A
round of N recent removals costs ceil(C/100) + ceil(I/100) + ceil(P/100) reads for the C
customers, I invoices and P pending items created in its window, plus one write per object
removed. Older removals (and ``since`` 0) take the per-record path: ``email=`` list, the
marker search when ``thorough``, then per customer its invoices and pending items. Only a
customer that carries the removal's email or marker is touched (with its invoices and
items); an invoice named by a known id whose customer is not the removal's is voided or
deleted only when it carries the email or marker itself.

A 404 on a list or search route means the base URL is wrong (``BadUrl``), unless Stripe's own
``resource_missing`` error says an object named in the request (a customer) is gone.

Size: one vendor's API in full, from its docs: customers, invoice items and invoices, search
with list fallbacks, batch observation and cleanup in dependency order.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from ..config import StageConfig, ToolConfig
from ..config import messages as msg
from ..errors import ApiError, ConnectorError
from ..record import TestRecord
from . import register
from ._base import Connector, Look, LookResult, ObservedRecord, Removal, RemovalResult
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
    max_removals = 1000
    stamps_arrival = True  # invoices and customers carry ``created``

    @classmethod
    def auth_headers(cls, tool: ToolConfig) -> dict[str, str]:
        headers = super().auth_headers(tool)
        if version := tool.options.get("api_version"):
            headers["Stripe-Version"] = str(version)
        return headers

    @classmethod
    def validate(cls, tool: ToolConfig) -> list[tuple[str, str]]:
        problems = super().validate(tool)
        obj = tool.options.get("object", "invoice")
        if obj not in OBJECTS:
            problems.append(("object", f"must be invoice or customer, got {msg.shown(obj)}"))
        return problems

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

    async def list_since(
        self, path: str, gte: int, **filters: str
    ) -> tuple[list[StripeObject], int | None]:
        """Every object ``path`` lists with ``created >= gte`` (and ``filters``), newest first,
        following ``starting_after`` while ``has_more``
        (https://docs.stripe.com/api/pagination), and ``None``; or, when ``MAX_PAGES`` stopped
        it, what was read and the ``created`` of the oldest object read: objects created in
        that second or before may be missing."""
        params: dict[str, Any] = {**filters, "created[gte]": gte, "limit": PAGE}
        found: list[StripeObject] = []
        for _ in range(MAX_PAGES):
            items, more = await self._page(path, params, missing_ok=False)
            found += items
            if not more or not items:
                return found, None
            params = {**params, "starting_after": items[-1]["id"]}
        oldest = [c for c in (_created(o, "date") for o in found) if c is not None]
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
        looks those lists did not cover (a list cut short), for the per-record path.

        Invoice looks need only the invoice list: an invoice carries its customer's email
        and name as they were when it was made (``customer_email``, ``customer_name``), so
        it is matched by them. The customer list is read only for customer-object looks."""
        uncovered: list[int] = []
        customer_looks = [i for i in listed if self._object(looks[i].stage) == "customer"]
        is_customer = set(customer_looks)
        invoice_looks = [i for i in listed if i not in is_customer]
        for path, group, project in (
            ("/v1/customers", customer_looks, _customer),
            ("/v1/invoices", invoice_looks, _invoice),
        ):
            if not group:
                continue
            try:
                objects, cut = await self.list_since(
                    path, _floor(min(looks[i].since for i in group) - SKEW_S)
                )
            except ConnectorError as exc:
                for i in group:
                    results[i] = exc
                continue
            # Index by email once: a round may match a thousand looks against a thousand
            # objects; only a look with nothing under its email scans for its marker.
            by_email: dict[Any, list[StripeObject]] = {}
            for obj in objects:
                by_email.setdefault(_email_of(obj), []).append(obj)
            for i in group:
                look = looks[i]
                start = _floor(look.since - SKEW_S)
                if cut is not None and start <= cut:
                    uncovered.append(i)
                    continue
                wanted = expected_fields(look.stage)
                candidates = by_email.get(look.record.email, [])
                if not any((_created(o) or start) >= start for o in candidates):
                    candidates = objects
                results[i] = [
                    project(o, how, wanted) for o, how in _match(candidates, look.record, start)
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
        [result] = await self.cleanup_batch([Removal(record, thorough=True, since=0.0)])
        if isinstance(result, ConnectorError):
            raise result
        return result

    async def cleanup_batch(self, removals: Sequence[Removal]) -> list[RemovalResult]:
        """Recent removals from the round's shared lists, the others per record; then the
        writes of every removal together (see the module docstring)."""
        now = time.time()
        job = _Cleanup([_Plan(r) for r in removals])
        # (A ``since`` a little in the future, from clock skew, counts as recent.)
        recent = [r.since > 0 and now - r.since <= LIST_WINDOW_S for r in removals]
        listed = [i for i, ok in enumerate(recent) if ok]
        single = [i for i, ok in enumerate(recent) if not ok]
        if listed:
            single += await self._find_listed(job, listed)
        if single:
            await self._find_single(job, sorted(single))
        await self._find_known_customers(job)
        await self._list_invoices(job)
        await self._per_customer(job, "/v1/invoices", job.add_invoice)
        await self._find_known_invoices(job)
        # Customers claimed through a known invoice since.
        await self._per_customer(job, "/v1/invoices", job.add_invoice)
        await self._writes(job, self._invoice_writes(job))
        await self._list_items(job)
        await self._writes(
            job, [(i, "DELETE", f"/v1/invoiceitems/{_q(ii)}") for ii, i in job.items.items()]
        )
        await self._writes(
            job,
            [
                (i, "DELETE", f"/v1/customers/{_q(cid)}")
                for cid, i in job.owner.items()
                if job.plans[i].error is None
            ],
        )
        return [p.error if p.error is not None else p.removed for p in job.plans]

    async def _find_listed(self, job: _Cleanup, listed: list[int]) -> list[int]:
        """The recent removals' customers from one windowed customers list; return the
        removals that list did not cover (cut short), for the per-record path."""
        gte = _floor(min(job.plans[i].removal.since for i in listed) - SKEW_S)
        try:
            customers, cut = await self.list_since("/v1/customers", gte)
        except ConnectorError as exc:
            for i in listed:
                job.fail(i, exc)
            return []
        job.gte = gte
        covered = []
        uncovered = []
        for i in listed:
            start = _floor(job.plans[i].removal.since - SKEW_S)
            if cut is not None and start <= cut:
                uncovered.append(i)
            else:
                job.plans[i].start = start
                covered.append(i)
        job.customers = {str(c["id"]): c for c in customers}
        carriers = _Carriers([(i, job.plans[i].removal.record) for i in covered])
        for customer in customers:
            created = _created(customer)
            mine = [
                i
                for i in carriers.of(customer)
                if (created or job.plans[i].start or 0) >= (job.plans[i].start or 0)
            ]
            if mine:
                # The run injected last before the customer appeared is the one it came from.
                i = max(mine, key=lambda k: (job.plans[k].start or 0, -k))
                job.claim(i, customer, listed=True)
        return uncovered

    async def _find_single(self, job: _Cleanup, single: list[int]) -> None:
        """The per-record path's customers: ``email=`` list, the marker search when
        thorough; each removal on its own, concurrently."""

        async def one(i: int) -> list[tuple[StripeObject, str]]:
            removal = job.plans[i].removal
            return await self.find_customers(removal.record, search=removal.thorough)

        answers = await asyncio.gather(*(one(i) for i in single), return_exceptions=True)
        for i, answer in zip(single, answers, strict=True):
            if isinstance(answer, ConnectorError):
                job.fail(i, answer)
            elif isinstance(answer, BaseException):
                raise answer
            else:
                for customer, _ in answer:
                    if _is_ours(customer, job.plans[i].removal.record):
                        job.claim(i, customer, listed=False)

    def _known(self, job: _Cleanup, kind: str) -> list[tuple[int, str]]:
        """(removal, id) for each known id of ``kind`` ("customer" or "invoice"), by prefix;
        an id without a known prefix is of the kind the tool observes."""
        default = str(self.tool.options.get("object", "invoice"))
        out = []
        for i, plan in enumerate(job.plans):
            if plan.error is not None:
                continue
            for oid in dict.fromkeys(str(k) for k in plan.removal.known_ids):
                prefix = oid.split("_", 1)[0]
                if {"cus": "customer", "in": "invoice"}.get(prefix, default) == kind:
                    out.append((i, oid))
        return out

    async def _find_known_customers(self, job: _Cleanup) -> None:
        """Known customer ids nobody claimed: from the window's list when it has them, else
        retrieved; claimed when they carry the removal's email or marker."""
        wanted = []
        for i, cid in self._known(job, "customer"):
            if cid in job.owner:
                continue
            listed = job.customers.get(cid)
            if listed is not None:
                if _is_ours(listed, job.plans[i].removal.record):
                    job.claim(i, listed, listed=True)
            else:
                wanted.append((i, cid))
        got = await self._retrieve_all(job, "/v1/customers", wanted)
        for (i, _), customer in zip(wanted, got, strict=True):
            if customer is not None and _is_ours(customer, job.plans[i].removal.record):
                job.claim(i, customer, listed=False)

    async def _list_invoices(self, job: _Cleanup) -> None:
        """One windowed invoices list, when some recent removal has a listed customer or a
        known invoice id; the invoices go to their customers' removals."""
        if job.gte is None:
            return
        known = {i for i, _ in self._known(job, "invoice") if job.plans[i].start is not None}
        served = sorted(known | {i for cid, i in job.owner.items() if cid in job.listed})
        if not served:
            return
        try:
            invoices, cut = await self.list_since("/v1/invoices", job.gte)
        except ConnectorError as exc:
            for i in served:
                job.fail(i, exc)
            return
        job.invoices = {str(inv["id"]): inv for inv in invoices}
        if cut is not None:
            job.unlist(cut)
        for invoice in invoices:
            cid = _customer_id(invoice)
            if cid in job.listed:
                job.add_invoice(job.owner[cid], invoice)

    async def _find_known_invoices(self, job: _Cleanup) -> None:
        """Known invoice ids not yet dealt with: from the window's list, else retrieved. An
        invoice goes with its customer when a removal claimed it (or claims it now: a
        customer the window listed that is ours); otherwise only if it carries the email or
        marker itself."""
        wanted = []
        for i, iid in self._known(job, "invoice"):
            if iid not in job.invoice_owner and iid not in job.invoices:
                wanted.append((i, iid))
        got = await self._retrieve_all(job, "/v1/invoices", wanted)
        fetched = {iid: inv for (_, iid), inv in zip(wanted, got, strict=True) if inv is not None}
        for i, iid in self._known(job, "invoice"):
            invoice = job.invoices.get(iid) or fetched.get(iid)
            if invoice is None or iid in job.invoice_owner:
                continue
            record = job.plans[i].removal.record
            cid = _customer_id(invoice)
            customer = job.customers.get(cid) if cid is not None else None
            if customer is not None and cid not in job.owner and _is_ours(customer, record):
                # Listed, but injected before the run's own window: its other invoices and
                # items are listed per customer.
                job.claim(i, customer, listed=False)
            if cid is not None and cid in job.owner:
                job.add_invoice(job.owner[cid], invoice)
            elif _invoice_is_ours(invoice, record):
                job.add_invoice(i, invoice)

    async def _retrieve_all(
        self, job: _Cleanup, path: str, wanted: list[tuple[int, str]]
    ) -> list[StripeObject | None]:
        """``GET {path}/{id}`` for each (removal, id), concurrently; a failure fails its
        removal and reads as ``None``."""
        answers = await asyncio.gather(
            *(self.retrieve(f"{path}/{_q(oid)}") for _, oid in wanted), return_exceptions=True
        )
        out: list[StripeObject | None] = []
        for (i, _), answer in zip(wanted, answers, strict=True):
            if isinstance(answer, ConnectorError):
                job.fail(i, answer)
                out.append(None)
            elif isinstance(answer, BaseException):
                raise answer
            else:
                out.append(answer)
        return out

    async def retrieve(self, path: str) -> StripeObject | None:
        """One object (``GET /v1/customers/{id}``, ``GET /v1/invoices/{id}``); ``None`` when
        Stripe says ``resource_missing`` or shows it ``deleted``.
        https://docs.stripe.com/api/customers/retrieve, https://docs.stripe.com/api/invoices/retrieve"""
        resp = await self.http.request(
            "GET", path, ok=(400,), route_must_exist=True, object_missing=_resource_missing
        )
        if self._missing(resp):
            return None
        data = json_body(resp, self.name)
        if not isinstance(data, dict) or "id" not in data:
            raise ApiError(f"{self.name}: GET {path} answered without an id", tool=self.name)
        return None if data.get("deleted") is True else data

    async def _per_customer(
        self,
        job: _Cleanup,
        path: str,
        add: Callable[[int, StripeObject], None],
        **params: str,
    ) -> None:
        """``GET {path}?customer=`` for every claimed customer no windowed list covers (once
        per customer and path)."""
        wanted = [
            (i, cid)
            for cid, i in job.owner.items()
            if cid not in job.listed and job.plans[i].error is None and (path, cid) not in job.asked
        ]
        job.asked.update((path, cid) for _, cid in wanted)
        answers = await asyncio.gather(
            *(self._list(path, customer=cid, **params) for _, cid in wanted),
            return_exceptions=True,
        )
        for (i, _), answer in zip(wanted, answers, strict=True):
            if isinstance(answer, ConnectorError):
                job.fail(i, answer)
            elif isinstance(answer, BaseException):
                raise answer
            else:
                for obj in answer:
                    add(i, obj)

    def _invoice_writes(self, job: _Cleanup) -> list[tuple[int, str, str]]:
        writes = []
        for iid, i in job.invoice_owner.items():
            status = job.plans[i].invoices[iid].get("status")
            if status == "draft":
                writes.append((i, "DELETE", f"/v1/invoices/{_q(iid)}"))
            elif status in VOIDABLE:
                writes.append((i, "POST", f"/v1/invoices/{_q(iid)}/void"))
        return writes

    async def _list_items(self, job: _Cleanup) -> None:
        """Pending invoice items of the claimed customers: one windowed list for the listed
        ones, per customer for the others. Asked after the invoices are dealt with: deleting
        a draft can leave its items pending on the customer."""
        served = sorted(
            {i for cid, i in job.owner.items() if cid in job.listed and job.plans[i].error is None}
        )
        if served and job.gte is not None:
            try:
                items, cut = await self.list_since("/v1/invoiceitems", job.gte, pending="true")
            except ConnectorError as exc:
                for i in served:
                    job.fail(i, exc)
            else:
                if cut is not None:
                    job.unlist(cut)
                for item in items:
                    cid = _customer_id(item)
                    if cid in job.listed:
                        job.add_item(job.owner[cid], item)
        await self._per_customer(job, "/v1/invoiceitems", job.add_item, pending="true")

    async def _writes(self, job: _Cleanup, writes: list[tuple[int, str, str]]) -> None:
        """Each write for a removal still standing, concurrently (the rate limiter paces
        them); each one done counts for its removal, one refused fails it."""
        writes = [w for w in writes if job.plans[w[0]].error is None]
        answers = await asyncio.gather(
            *(self._remove(method, path) for _, method, path in writes), return_exceptions=True
        )
        for (i, _, _), answer in zip(writes, answers, strict=True):
            if isinstance(answer, ConnectorError):
                job.fail(i, answer)
            elif isinstance(answer, BaseException):
                raise answer
            else:
                job.plans[i].removed += answer

    async def _remove(self, method: str, path: str) -> int:
        resp = await self.http.request(
            method, path, ok=(400,), route_must_exist=True, object_missing=_resource_missing
        )
        return 0 if self._missing(resp) else 1


@dataclass
class _Plan:
    """One removal in a ``cleanup_batch`` round."""

    removal: Removal
    #: Start of its share of the window (``created`` since); None on the per-record path.
    start: int | None = None
    #: The invoices to deal with: id -> invoice.
    invoices: dict[str, StripeObject] = field(default_factory=dict)
    removed: int = 0
    error: ConnectorError | None = None


@dataclass
class _Cleanup:
    """What a ``cleanup_batch`` round found, and for which removal."""

    plans: list[_Plan]
    #: Start of the round's windowed lists (None: no recent removal was listed).
    gte: int | None = None
    #: Every customer and invoice the windowed lists showed, by id.
    customers: dict[str, StripeObject] = field(default_factory=dict)
    invoices: dict[str, StripeObject] = field(default_factory=dict)
    #: Claimed customers (ours): id -> the removal they are removed for.
    owner: dict[str, int] = field(default_factory=dict)
    #: Claimed customers whose invoices and items the windowed lists cover.
    listed: set[str] = field(default_factory=set)
    #: What was listed per customer already: (path, customer id).
    asked: set[tuple[str, str]] = field(default_factory=set)
    invoice_owner: dict[str, int] = field(default_factory=dict)
    #: Pending invoice items to delete: id -> removal.
    items: dict[str, int] = field(default_factory=dict)

    def fail(self, i: int, exc: ConnectorError) -> None:
        if self.plans[i].error is None:
            self.plans[i].error = exc

    def claim(self, i: int, customer: StripeObject, *, listed: bool) -> None:
        cid = str(customer["id"])
        if cid in self.owner:
            return
        self.owner[cid] = i
        if listed:
            self.listed.add(cid)

    def unlist(self, cut: int) -> None:
        """A windowed list stopped at ``cut``: removals whose window starts at or before it
        get their customers' invoices and items per customer instead."""
        for cid, i in self.owner.items():
            start = self.plans[i].start
            if cid in self.listed and start is not None and start <= cut:
                self.listed.discard(cid)

    def add_invoice(self, i: int, invoice: StripeObject) -> None:
        iid = str(invoice["id"])
        if iid not in self.invoice_owner:
            self.invoice_owner[iid] = i
            self.plans[i].invoices[iid] = invoice

    def add_item(self, i: int, item: StripeObject) -> None:
        self.items.setdefault(str(item["id"]), i)


class _Carriers:
    """Which of many records a customer carries the email or marker of (``_is_ours``),
    without trying every record on every customer: emails by lookup, markers by looking up
    each substring of the customer's texts of a marker's length."""

    def __init__(self, records: list[tuple[int, TestRecord]]) -> None:
        self.records = dict(records)
        self.emails: dict[str, list[int]] = {}
        self.markers: dict[str, list[int]] = {}
        for i, record in records:
            self.emails.setdefault(record.email.casefold(), []).append(i)
            self.markers.setdefault(record.marker.casefold(), []).append(i)
        self.lengths = sorted({len(m) for m in self.markers if m})

    def of(self, customer: StripeObject) -> list[int]:
        found = list(self.emails.get(str(customer.get("email") or "").casefold(), []))
        for text in _texts(customer):
            folded = text.casefold()
            for n in self.lengths:
                for k in range(len(folded) - n + 1):
                    found += self.markers.get(folded[k : k + n], [])
        return sorted(i for i in set(found) if _is_ours(customer, self.records[i]))


def _q(oid: str) -> str:
    return quote(oid, safe="")


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
    objects: list[StripeObject], record: TestRecord, start: int
) -> list[tuple[StripeObject, str]]:
    """The record's customers (or invoices) among ``objects`` created at ``start`` or later
    (none can be older than the run's injection; a record email fixed in config is shared by
    every run): those with its exact email (what the ``email=`` filter finds; an invoice's
    ``customer_email``), else those carrying its marker (what the search found)."""
    recent = [o for o in objects if (_created(o) or start) >= start]
    by_email = [(o, "email") for o in recent if _email_of(o) == record.email]
    if by_email:
        return by_email
    return [(o, "marker") for o in recent if _is_ours(o, record)]


def _email_of(obj: StripeObject) -> Any:
    return obj.get("customer_email") if obj.get("object") == "invoice" else obj.get("email")


def _customer_id(invoice: StripeObject) -> str | None:
    customer = invoice.get("customer")
    if isinstance(customer, dict):  # expanded
        customer = customer.get("id")
    return customer if isinstance(customer, str) else None


def _created(obj: StripeObject, fallback: str = "created") -> int | None:
    """``created`` (invoice items carry ``date`` instead: ``fallback="date"``)."""
    created = obj.get("created", obj.get(fallback))
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


def _invoice_is_ours(invoice: StripeObject, record: TestRecord) -> bool:
    """Whether an invoice itself carries the record's email or marker (its customer's email
    and name as copied onto it, its description, its metadata)."""
    copy = {
        "email": invoice.get("customer_email"),
        "name": invoice.get("customer_name"),
        "description": invoice.get("description"),
        "metadata": invoice.get("metadata"),
    }
    return _is_ours(copy, record)


def _is_ours(customer: StripeObject, record: TestRecord) -> bool:
    """Whether a customer (or an invoice, by its customer's email and name) carries the
    record's email or marker."""
    if str(_email_of(customer) or "").casefold() == record.email.casefold():
        return True
    marker = record.marker.casefold()
    return any(marker in t.casefold() for t in _texts(customer))


def _texts(customer: StripeObject) -> list[str]:
    """Where a customer may carry a marker: email, name, description, metadata values (and
    an invoice: its customer's email and name, its description and metadata)."""
    texts = [customer.get("email"), customer.get("name"), customer.get("description")]
    texts += [customer.get("customer_email"), customer.get("customer_name")]
    meta = customer.get("metadata")
    if isinstance(meta, dict):
        texts += list(meta.values())
    return [t for t in texts if isinstance(t, str)]
