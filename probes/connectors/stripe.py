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
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from ..config import StageConfig, ToolConfig
from ..errors import ApiError, ConfigError
from ..record import TestRecord
from . import register
from ._base import Connector, ObservedRecord
from ._http import ToolHttp
from ._util import epoch, expected_fields, flatten, json_body, option

#: Stripe's page size cap; a test record has a handful of objects at most.
PAGE = 100
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
        resp = await self.http.request("GET", path, ok=(400, 404), params={**params, "limit": PAGE})
        if self._missing(resp):
            return []
        data = json_body(resp, self.name)
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ApiError(f"{self.name}: GET {path} answered without data", tool=self.name)
        return [i for i in items if isinstance(i, dict) and "id" in i]

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

    async def find_customers(self, record: TestRecord) -> list[tuple[StripeObject, str]]:
        found = {c["id"]: (c, "email") for c in await self.customers_by_email(record.email)}
        if not found:
            for c in await self.customers_by_marker(record.marker):
                found.setdefault(c["id"], (c, "marker"))
        return list(found.values())

    async def observe(self, record: TestRecord, stage: StageConfig) -> list[ObservedRecord]:
        wanted = expected_fields(stage)
        customers = await self.find_customers(record)
        if option(self.tool, stage, "object", "invoice") == "customer":
            return [_customer(c, how, wanted) for c, how in customers]
        out: list[ObservedRecord] = []
        for customer, how in customers:
            out += [_invoice(i, how, wanted) for i in await self.invoices(customer["id"])]
        return out

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
        resp = await self.http.request(method, path, ok=(400, 404))
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
    created = epoch(invoice.get("created"))
    if created is not None:
        out["_created_ts"] = created
    return out


def _customer(customer: StripeObject, matched_by: str, wanted: list[str]) -> ObservedRecord:
    out = _project(customer, CUSTOMER_FIELDS, wanted)
    out["_id"] = customer["id"]
    out["_matched_by"] = matched_by
    return out


def _is_ours(customer: StripeObject, record: TestRecord) -> bool:
    if str(customer.get("email") or "").casefold() == record.email.casefold():
        return True
    marker = record.marker.casefold()
    texts = [customer.get("email"), customer.get("name"), customer.get("description")]
    meta = customer.get("metadata")
    if isinstance(meta, dict):
        texts += list(meta.values())
    return any(isinstance(t, str) and marker in t.casefold() for t in texts)
