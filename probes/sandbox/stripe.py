"""Stripe stand-in (``https://api.stripe.com``, v1), mounted at ``/stripe``.

Form-encoded bodies (nested ``metadata[key]=v``), Bearer or Basic auth with any key.
Objects have the field sets of Stripe's own example objects (``stripe.fixtures3.json``).

| endpoint | search view |
| --- | --- |
| ``POST /v1/customers``, ``GET/DELETE /v1/customers/{id}`` | – |
| ``GET /v1/customers?email=`` (list) | immediate |
| ``GET /v1/customers/search?query=email:'x'`` | lags: ``search_lag_s`` / ``lag@stripe`` |
| ``POST/GET /v1/invoiceitems``, ``GET/DELETE /v1/invoiceitems/{id}`` | – |
| ``POST /v1/invoices``, ``GET /v1/invoices/{id}`` | – |
| ``GET /v1/invoices?customer=`` (list) | immediate |
| ``GET /v1/invoices/search?query=customer:'cus_...'`` | lags |
| ``POST /v1/invoices/{id}/finalize`` (draft → open), ``/void`` (open → void) | – |
| ``DELETE /v1/invoices/{id}`` (drafts only) | – |

Lists (``GET /v1/customers``, ``/v1/invoices``, ``/v1/invoiceitems``) are newest first,
``limit`` 1-100 (default 10), paged with ``starting_after`` (the next older page) or
``ending_before`` (the page just newer than that id, still newest first), ``has_more``
telling whether more lie that way. They take ``created`` as Stripe does: ``created=<unix>``
exactly, or ``created[gt]``, ``created[gte]``, ``created[lt]``, ``created[lte]`` (invoice
items are filtered on their ``date``), together with their other filters.

Errors are ``{"error": {"type", "message", "param"?, "code"?, "doc_url"?}}``; an unknown id
is 404 ``resource_missing``.

Size: the Stripe stand-in: every route Baton and the glue use, with Stripe's object shapes,
errors, search syntax and pagination.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from . import _stripe_objects as objects
from ._http import (
    EMAIL_RE,
    Route,
    VendorError,
    basic_user,
    bearer_token,
    decode_form,
    json_response,
)
from ._query import QueryError, parse_stripe_query
from ._state import Obj, SandboxState, Table

__all__ = [
    "StripeApi",
    "create_customer",
    "create_invoice",
    "create_invoiceitem",
    "finalize_invoice",
    "stripe_error",
]

_CUSTOMER_SEARCH_FIELDS = ("created", "email", "name", "phone")
_INVOICE_SEARCH_FIELDS = (
    "created",
    "currency",
    "customer",
    "number",
    "status",
    "subscription",
    "total",
)
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def stripe_error(
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    type: str = "invalid_request_error",
) -> VendorError:
    """Stripe's error envelope; keys Stripe leaves out when empty are left out."""
    error: dict[str, Any] = {"message": message, "type": type}
    if param is not None:
        error["param"] = param
    if code is not None:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    return VendorError(status, {"error": error}, message)


def _missing(kind: str, oid: str, *, param: str = "id", status: int = 404) -> VendorError:
    return stripe_error(status, f"No such {kind}: '{oid}'", param=param, code="resource_missing")


# Parameters -------------------------------------------------------------------------------
def _check_params(params: Mapping[str, Any], allowed: set[str]) -> None:
    for key in params:
        if key not in allowed and key != "expand":
            raise stripe_error(
                400, f"Received unknown parameter: {key}", param=key, code="parameter_unknown"
            )


def _required(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if value in (None, ""):
        raise stripe_error(
            400, f"Missing required param: {name}.", param=name, code="parameter_missing"
        )
    return str(value)


def _int(params: Mapping[str, Any], name: str, default: int | None = None) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        return int(str(value))
    except ValueError as exc:
        raise stripe_error(
            400, f"Invalid integer: {value}", param=name, code="parameter_invalid_integer"
        ) from exc


def _bool(params: Mapping[str, Any], name: str, default: bool) -> bool:
    value = params.get(name)
    if value in (None, ""):
        return default
    text = str(value).lower()
    if text not in ("true", "false"):
        raise stripe_error(400, f"Invalid boolean: {value}", param=name)
    return text == "true"


def _metadata(params: Mapping[str, Any]) -> dict[str, str]:
    meta = params.get("metadata") or {}
    if not isinstance(meta, Mapping):
        raise stripe_error(400, "Invalid object", param="metadata")
    return {str(k): str(v) for k, v in meta.items() if v != ""}


def _currency(value: str, param: str = "currency") -> str:
    code = value.lower()
    if len(code) != 3 or not code.isalpha():
        raise stripe_error(400, f"Invalid currency: {value}.", param=param)
    return code


# Operations (the glue calls these directly) ------------------------------------------
def _new_id(state: SandboxState, prefix: str, n: int) -> str:
    return f"{prefix}_{state.token(n, _ID_ALPHABET)}"


def create_customer(state: SandboxState, params: Mapping[str, Any], *, strict: bool = True) -> Obj:
    """Create a customer. ``strict=False`` skips the email check (the glue writes as is)."""
    email = str(params.get("email") or "") or None
    if strict and email is not None and not EMAIL_RE.match(email):
        raise stripe_error(
            400, f"Invalid email address: {email}", param="email", code="email_invalid"
        )
    customer = objects.customer(
        id=_new_id(state, "cus", 14),
        created=int(state.wall()),
        email=email,
        name=str(params.get("name") or "") or None,
        phone=str(params.get("phone") or "") or None,
        description=str(params.get("description") or "") or None,
        metadata=_metadata(params),
        invoice_prefix=state.token(8, "0123456789ABCDEF"),
    )
    return state.customers.put(customer)


def _live_customer(state: SandboxState, cid: str, *, param: str = "customer") -> Obj:
    customer = state.customers.get(cid)
    if customer is None:
        raise _missing("customer", cid, param=param, status=400)
    return customer


def create_invoiceitem(state: SandboxState, params: Mapping[str, Any]) -> Obj:
    customer = _live_customer(state, _required(params, "customer"))
    amount = _int(params, "amount")
    if amount is None:
        raise stripe_error(
            400, "Missing required param: amount.", param="amount", code="parameter_missing"
        )
    currency = _currency(_required(params, "currency"))
    invoice: Obj | None = None
    if params.get("invoice"):
        invoice = state.invoices.get(str(params["invoice"]))
        if invoice is None:
            raise _missing("invoice", str(params["invoice"]), param="invoice", status=400)
        if invoice["status"] != "draft":
            raise stripe_error(
                400,
                f"Invoice {invoice['id']} is no longer editable; "
                "you can only add items to draft invoices.",
                param="invoice",
                code="invoice_not_editable",
            )
        if invoice["currency"] != currency:
            raise stripe_error(
                400,
                f"The currency of this invoice item ({currency}) must match the invoice's currency "
                f"({invoice['currency']}).",
                param="currency",
            )
    now = int(state.wall())
    item = objects.invoiceitem(
        id=_new_id(state, "ii", 24),
        customer=customer["id"],
        amount=amount,
        currency=currency,
        description=str(params.get("description") or "") or None,
        metadata=_metadata(params),
        now=now,
    )
    if customer["currency"] is None:
        customer["currency"] = currency
        state.customers.put(customer)
    state.invoiceitems.put(item)
    if invoice is not None:
        _attach(state, invoice, item)
    return item


def _attach(state: SandboxState, invoice: Obj, item: Obj) -> None:
    item["invoice"] = invoice["id"]
    state.invoiceitems.put(item)
    invoice["lines"]["data"].append(objects.line_item(item, invoice["id"]))
    _retotal(state, invoice)


def _retotal(state: SandboxState, invoice: Obj) -> None:
    total = sum(line["amount"] for line in invoice["lines"]["data"])
    paid = invoice["amount_paid"]
    invoice.update(
        subtotal=total,
        subtotal_excluding_tax=total,
        total=total,
        total_excluding_tax=total,
        amount_due=total,
        amount_remaining=max(0, total - paid),
    )
    state.invoices.put(invoice)


def create_invoice(state: SandboxState, params: Mapping[str, Any]) -> Obj:
    """A draft invoice; ``pending_invoice_items_behavior=include`` pulls in pending items."""
    customer = _live_customer(state, _required(params, "customer"))
    method = str(params.get("collection_method") or "charge_automatically")
    if method not in ("charge_automatically", "send_invoice"):
        raise stripe_error(400, f"Invalid collection_method: {method}", param="collection_method")
    days = _int(params, "days_until_due")
    due_date = _int(params, "due_date")
    if method == "send_invoice" and days is None and due_date is None:
        raise stripe_error(
            400,
            "Missing required param: days_until_due or due_date (required when "
            "collection_method is send_invoice).",
            param="days_until_due",
            code="parameter_missing",
        )
    behavior = str(params.get("pending_invoice_items_behavior") or "exclude")
    if behavior not in ("include", "exclude"):
        raise stripe_error(
            400,
            f"Invalid pending_invoice_items_behavior: {behavior}",
            param="pending_invoice_items_behavior",
        )
    pending = (
        [i for i in state.invoiceitems if i["customer"] == customer["id"] and i["invoice"] is None]
        if behavior == "include"
        else []
    )
    currency = params.get("currency") or (pending[0]["currency"] if pending else None)
    currency = _currency(str(currency or customer["currency"] or "usd"))
    now = int(state.wall())
    due = now + days * 86400 if days is not None else None
    invoice = objects.draft_invoice(
        iid=_new_id(state, "in", 24),
        customer=customer,
        currency=currency,
        collection_method=method,
        auto_advance=_bool(params, "auto_advance", False),
        description=str(params.get("description") or "") or None,
        due_date=due_date if due_date is not None else due,
        metadata=_metadata(params),
        now=now,
    )
    state.invoices.put(invoice)
    for item in pending:
        if item["currency"] == currency:
            _attach(state, invoice, item)
    return invoice


def _invoice(state: SandboxState, iid: str) -> Obj:
    invoice = state.invoices.get(iid)
    if invoice is None:
        raise _missing("invoice", iid)
    return invoice


def finalize_invoice(state: SandboxState, iid: str) -> Obj:
    """Draft → open: numbered, customer details frozen, hosted URL set."""
    invoice = _invoice(state, iid)
    if invoice["status"] != "draft":
        raise stripe_error(
            400,
            "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
            code="invoice_not_editable",
        )
    customer = state.customers.get(invoice["customer"])
    now = int(state.wall())
    if customer is not None:
        seq = customer["next_invoice_sequence"]
        customer["next_invoice_sequence"] = seq + 1
        state.customers.put(customer)
        invoice.update(
            number=f"{customer['invoice_prefix']}-{seq:04d}",
            customer_email=customer["email"],
            customer_name=customer["name"],
            customer_phone=customer["phone"],
        )
    token = state.token(24)
    invoice.update(
        status="open",
        effective_at=now,
        hosted_invoice_url=f"https://invoice.stripe.com/i/acct_sandbox/test_{token}",
        invoice_pdf=f"https://pay.stripe.com/invoice/acct_sandbox/test_{token}/pdf",
    )
    invoice["status_transitions"]["finalized_at"] = now
    state.invoices.put(invoice)
    return invoice


def _created(obj: Obj) -> int:
    # invoice items carry ``date`` where other objects carry ``created``
    return int(obj["created"] if "created" in obj else obj["date"])


_RANGE_OPS: dict[str, Callable[[int, int], bool]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def _timestamp(value: Any, param: str) -> int:
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    shown = value if isinstance(value, str) else "a list or hash"
    raise stripe_error(
        400, f"Invalid integer: {shown}", param=param, code="parameter_invalid_integer"
    )


def _created_filter(query: Mapping[str, Any]) -> Callable[[Obj], bool] | None:
    """``created=T`` or ``created[gt|gte|lt|lte]=T`` as a test on an object; None if absent."""
    raw = query.get("created")
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        exact = _timestamp(raw, "created")
        return lambda o: _created(o) == exact
    bounds: list[tuple[Callable[[int, int], bool], int]] = []
    for op, value in raw.items():
        if op not in _RANGE_OPS:
            raise stripe_error(
                400,
                f"Received unknown parameter: created[{op}]",
                param=f"created[{op}]",
                code="parameter_unknown",
            )
        bounds.append((_RANGE_OPS[op], _timestamp(value, f"created[{op}]")))
    return lambda o: all(test(_created(o), bound) for test, bound in bounds)


def _page(
    table: Table, rows: list[Obj], query: Mapping[str, Any], url: str, *, kind: str
) -> dict[str, Any]:
    """Stripe list pagination of ``rows`` (some of ``table``'s objects): ``created``
    filter, newest first, ``limit`` (1-100), ``starting_after`` or ``ending_before``."""
    limit = _int(query, "limit", 10)
    if limit is None or not 1 <= limit <= 100:
        raise stripe_error(400, "Invalid limit: must be between 1 and 100", param="limit")
    created = _created_filter(query)
    if created is not None:
        rows = [o for o in rows if created(o)]
    # Newest first; ties (same second) by creation order, newest first too.
    seq = {o["id"]: i for i, o in enumerate(table)}

    def order(o: Obj) -> tuple[int, int]:
        return (-_created(o), -seq[o["id"]])

    rows.sort(key=order)
    after, before = query.get("starting_after"), query.get("ending_before")
    if after and before:
        raise stripe_error(
            400,
            "You may only specify one of these parameters: ending_before, starting_after.",
            param="ending_before",
        )
    cursor, param = (after, "starting_after") if after else (before, "ending_before")
    if cursor:
        anchor = table.get(str(cursor))
        if anchor is None:
            raise _missing(kind, str(cursor), param=param, status=400)
        mark = order(anchor)
        if after:
            rows = [o for o in rows if order(o) > mark]
        else:
            rows = [o for o in rows if order(o) < mark]
            # the ``limit`` objects just newer than the cursor, still newest first
            more = len(rows) > limit
            return {"object": "list", "data": rows[-limit:], "has_more": more, "url": url}
    return {"object": "list", "data": rows[:limit], "has_more": len(rows) > limit, "url": url}


def _search(
    table: Table, lag: float, query: Mapping[str, str], *, fields: tuple[str, ...], resource: str
) -> dict[str, Any]:
    try:
        parsed = parse_stripe_query(_required(query, "query"), fields=fields, resource=resource)
    except QueryError as exc:
        raise stripe_error(400, str(exc), param="query") from exc
    limit = _int(query, "limit", 10) or 10
    if not 1 <= limit <= 100:
        raise stripe_error(400, "Invalid limit: must be between 1 and 100", param="limit")
    page = str(query.get("page") or "")
    start = int(page[5:]) if page.startswith("page_") and page[5:].isdigit() else 0
    hits = [o for o in reversed(table.indexed(lag)) if parsed.matches(o)]
    more = start + limit < len(hits)
    return {
        "object": "search_result",
        "url": f"/v1/{resource}/search",
        "has_more": more,
        "next_page": f"page_{start + limit}" if more else None,
        "data": hits[start : start + limit],
    }


class StripeApi:
    """``/v1/customers``, ``/v1/invoiceitems``, ``/v1/invoices``."""

    tool = "stripe"

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        return [
            ("GET", "/v1/customers/search", self.search_customers),
            ("POST", "/v1/customers", self.create_customer),
            ("GET", "/v1/customers", self.list_customers),
            ("GET", "/v1/customers/{id}", self.retrieve_customer),
            ("DELETE", "/v1/customers/{id}", self.delete_customer),
            ("POST", "/v1/invoiceitems", self.create_invoiceitem),
            ("GET", "/v1/invoiceitems", self.list_invoiceitems),
            ("GET", "/v1/invoiceitems/{id}", self.retrieve_invoiceitem),
            ("DELETE", "/v1/invoiceitems/{id}", self.delete_invoiceitem),
            ("GET", "/v1/invoices/search", self.search_invoices),
            ("POST", "/v1/invoices", self.create_invoice),
            ("GET", "/v1/invoices", self.list_invoices),
            ("GET", "/v1/invoices/{id}", self.retrieve_invoice),
            ("DELETE", "/v1/invoices/{id}", self.delete_invoice),
            ("POST", "/v1/invoices/{id}/finalize", self.finalize),
            ("POST", "/v1/invoices/{id}/void", self.void),
        ]

    # Vendor policy --------------------------------------------------------------------
    @staticmethod
    def authorized(request: web.Request) -> bool:
        return (bearer_token(request) or basic_user(request)) is not None

    @staticmethod
    def unauthorized() -> VendorError:
        return stripe_error(
            401,
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
            "or we can help at https://support.stripe.com/.",
        )

    @staticmethod
    def rate_limited(request: web.Request) -> VendorError:
        return stripe_error(
            429,
            "Request rate limit exceeded. Learn more about rate limits here "
            "https://stripe.com/docs/rate-limits.",
            code="rate_limit",
        )

    @staticmethod
    def unavailable() -> VendorError:
        return stripe_error(
            503, "Stripe is temporarily unavailable. Please try again later.", type="api_error"
        )

    @staticmethod
    def not_found(request: web.Request) -> VendorError:
        path = request.path.removeprefix("/stripe")
        return stripe_error(
            404,
            f"Unrecognized request URL ({request.method}: {path}). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/.",
        )

    # Helpers --------------------------------------------------------------------------
    @staticmethod
    async def _params(request: web.Request, allowed: set[str]) -> dict[str, Any]:
        text = (await request.read()).decode("utf-8", errors="replace")
        if request.content_type == "application/json" and text.strip():
            raise stripe_error(
                400,
                "Invalid request: Stripe takes form-encoded bodies "
                "(Content-Type: application/x-www-form-urlencoded), not JSON.",
            )
        params = decode_form(parse_qsl(text, keep_blank_values=True))
        _check_params(params, allowed)
        return params

    @staticmethod
    def _query(request: web.Request, allowed: set[str]) -> dict[str, Any]:
        params = decode_form(request.query.items())
        _check_params(params, allowed | {"limit", "starting_after", "ending_before"})
        return params

    # Customers ------------------------------------------------------------------------
    async def create_customer(self, request: web.Request) -> web.Response:
        params = await self._params(request, {"email", "name", "phone", "description", "metadata"})
        return json_response(create_customer(self.state, params))

    async def retrieve_customer(self, request: web.Request) -> web.Response:
        cid = request.match_info["id"]
        if cid in self.state.deleted_customers:
            return json_response({"id": cid, "object": "customer", "deleted": True})
        customer = self.state.customers.get(cid)
        if customer is None:
            raise _missing("customer", cid)
        return json_response(customer)

    async def delete_customer(self, request: web.Request) -> web.Response:
        cid = request.match_info["id"]
        if self.state.customers.remove(cid) is None:
            raise _missing("customer", cid)
        self.state.deleted_customers.add(cid)
        return json_response({"id": cid, "object": "customer", "deleted": True})

    async def list_customers(self, request: web.Request) -> web.Response:
        query = self._query(request, {"email", "created"})
        rows = list(self.state.customers)
        if query.get("email"):
            rows = [c for c in rows if c["email"] == query["email"]]  # case-sensitive, as Stripe
        return json_response(
            _page(self.state.customers, rows, query, "/v1/customers", kind="customer")
        )

    async def search_customers(self, request: web.Request) -> web.Response:
        query = self._query(request, {"query", "page"})
        lag = self.state.lag("stripe")
        return json_response(
            _search(
                self.state.customers,
                lag,
                query,
                fields=_CUSTOMER_SEARCH_FIELDS,
                resource="customers",
            )
        )

    # Invoice items ----------------------------------------------------------------------
    async def create_invoiceitem(self, request: web.Request) -> web.Response:
        params = await self._params(
            request, {"customer", "amount", "currency", "description", "invoice", "metadata"}
        )
        return json_response(create_invoiceitem(self.state, params))

    async def list_invoiceitems(self, request: web.Request) -> web.Response:
        query = self._query(request, {"customer", "invoice", "pending", "created"})
        rows = list(self.state.invoiceitems)
        for key in ("customer", "invoice"):
            if query.get(key):
                rows = [i for i in rows if i[key] == query[key]]
        if query.get("pending"):
            pending = str(query["pending"]).lower() == "true"
            rows = [i for i in rows if (i["invoice"] is None) == pending]
        return json_response(
            _page(self.state.invoiceitems, rows, query, "/v1/invoiceitems", kind="invoiceitem")
        )

    async def retrieve_invoiceitem(self, request: web.Request) -> web.Response:
        item = self.state.invoiceitems.get(request.match_info["id"])
        if item is None:
            raise _missing("invoiceitem", request.match_info["id"])
        return json_response(item)

    async def delete_invoiceitem(self, request: web.Request) -> web.Response:
        iid = request.match_info["id"]
        item = self.state.invoiceitems.get(iid)
        if item is None:
            raise _missing("invoiceitem", iid)
        invoice = self.state.invoices.get(item["invoice"]) if item["invoice"] else None
        if invoice is not None:
            if invoice["status"] != "draft":
                raise stripe_error(
                    400,
                    "Invoice items on a finalized invoice cannot be deleted.",
                    code="invoice_not_editable",
                )
            invoice["lines"]["data"] = [
                line
                for line in invoice["lines"]["data"]
                if line["parent"]["invoice_item_details"]["invoice_item"] != iid
            ]
            _retotal(self.state, invoice)
        self.state.invoiceitems.remove(iid)
        return json_response({"id": iid, "object": "invoiceitem", "deleted": True})

    # Invoices ---------------------------------------------------------------------------
    async def create_invoice(self, request: web.Request) -> web.Response:
        allowed = {
            "customer", "auto_advance", "collection_method", "days_until_due", "due_date",
            "description", "metadata", "currency", "pending_invoice_items_behavior",
        }  # fmt: skip
        params = await self._params(request, allowed)
        return json_response(create_invoice(self.state, params))

    async def retrieve_invoice(self, request: web.Request) -> web.Response:
        return json_response(_invoice(self.state, request.match_info["id"]))

    async def list_invoices(self, request: web.Request) -> web.Response:
        query = self._query(
            request, {"customer", "status", "collection_method", "subscription", "created"}
        )
        rows = list(self.state.invoices)
        for key in ("customer", "status", "collection_method"):
            if query.get(key):
                rows = [i for i in rows if i[key] == query[key]]
        return json_response(
            _page(self.state.invoices, rows, query, "/v1/invoices", kind="invoice")
        )

    async def search_invoices(self, request: web.Request) -> web.Response:
        query = self._query(request, {"query", "page"})
        lag = self.state.lag("stripe")
        return json_response(
            _search(
                self.state.invoices, lag, query, fields=_INVOICE_SEARCH_FIELDS, resource="invoices"
            )
        )

    async def finalize(self, request: web.Request) -> web.Response:
        await self._params(request, {"auto_advance"})
        return json_response(finalize_invoice(self.state, request.match_info["id"]))

    async def void(self, request: web.Request) -> web.Response:
        await self._params(request, set())
        invoice = _invoice(self.state, request.match_info["id"])
        if invoice["status"] not in ("open", "uncollectible"):
            raise stripe_error(
                400,
                "You can only void an open or uncollectible invoice; "
                f"this one is {invoice['status']}. Delete a draft invoice instead.",
            )
        invoice.update(status="void", amount_remaining=0)
        invoice["status_transitions"]["voided_at"] = int(self.state.wall())
        self.state.invoices.put(invoice)
        return json_response(invoice)

    async def delete_invoice(self, request: web.Request) -> web.Response:
        iid = request.match_info["id"]
        invoice = _invoice(self.state, iid)
        if invoice["status"] != "draft":
            raise stripe_error(
                400,
                f"You can only delete draft invoices; this one is {invoice['status']}. "
                "Void an open invoice instead.",
            )
        for line in invoice["lines"]["data"]:
            self.state.invoiceitems.remove(line["parent"]["invoice_item_details"]["invoice_item"])
        self.state.invoices.remove(iid)
        return json_response({"id": iid, "object": "invoice", "deleted": True})
