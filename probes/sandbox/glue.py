"""The glue: a Zapier-like catch hook and the automation it runs, with faults applied.

``POST /glue/hooks/catch/{hookId}/{token}`` (JSON, a JSON list of objects, or a form body)
answers at once, as Zapier does, and then, after a random ``glue_delay_s``::

    email    if marketing_consent: welcome mail to the lead via the SendGrid stand-in
             (from hello@example.com, subject "Welcome, {first_name}!")
    crm      create (or update) the HubSpot contact: email, firstname, lastname, phone,
             company, signup_date (dd/mm/yyyy from the form, stored as yyyy-mm-dd),
             payment_method
    invoice  after crm: Stripe customer (email, name "first last", phone, metadata),
             invoice item (amount in cents, currency), invoice (description, metadata
             payment_method, send_invoice), finalized

A HubSpot form submission (``/hsforms``) runs the same automation with ``source="hsforms"``:
HubSpot itself writes the contact, and a workflow sends the mail and the invoice.

The glue writes into the stand-ins' stores directly (it is in the same process), so every
fault of ``faults.py`` lands in the stored data. ``email`` runs alongside ``crm → invoice``;
an error at crm (e.g. ``outage@hubspot``) halts the invoice, as a failed Zap step does, but a
dropped crm step does not.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from . import hubspot, sendgrid, stripe
from ._http import Route, VendorError, json_response
from ._state import GlueRun, SandboxState

__all__ = ["INVOICE_DESCRIPTION", "WELCOME_FROM", "WELCOME_SUBJECT", "Glue", "Lead", "iso_date"]

WELCOME_FROM = "hello@example.com"
WELCOME_SUBJECT = "Welcome, {first_name}!"
WELCOME_TEXT = "Hi {first_name}, thanks for signing up. Your first invoice is on its way."
INVOICE_DESCRIPTION = "Welcome plan for {company}"
INVOICE_DAYS_UNTIL_DUE = 30

_TRUE = {"true", "yes", "1", "on", "y"}


def iso_date(raw: str) -> str:
    """A form's date as ``YYYY-MM-DD``: from ``dd/mm/yyyy``, ``yyyy-mm-dd`` or epoch ms
    (what HubSpot forms send for date fields). Anything else is kept as it came."""
    text = raw.strip()
    if m := re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", text):
        try:
            return dt.date(int(m[3]), int(m[2]), int(m[1])).isoformat()
        except ValueError:
            return text
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return text
    if re.fullmatch(r"\d{11,13}", text):
        return dt.datetime.fromtimestamp(int(text) / 1000, dt.UTC).date().isoformat()
    return text


@dataclass(frozen=True)
class Lead:
    """One form submission as the glue reads it."""

    email: str = ""
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    company: str = ""
    signup_date: str = ""  # as sent: dd/mm/yyyy from a web form
    amount: str = ""  # major units: "49.00"
    currency: str = "usd"
    payment_method: str = ""
    marketing_consent: bool = False
    #: Further contact properties a HubSpot form carried (amount, website, ...).
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_hook(cls, payload: Mapping[str, Any]) -> Lead:
        """From a catch hook payload (the web form's own field names)."""

        def get(key: str, default: str = "") -> str:
            value = payload.get(key)
            return default if value is None else str(value)

        return cls(
            email=get("email").strip(),
            first_name=get("first_name"),
            last_name=get("last_name"),
            phone=get("phone"),
            company=get("company"),
            signup_date=get("signup_date"),
            amount=get("amount"),
            currency=get("currency", "usd").lower() or "usd",
            payment_method=get("payment_method"),
            marketing_consent=get("marketing_consent").strip().lower() in _TRUE,
        )

    @classmethod
    def from_form(cls, values: Mapping[str, str], *, consent: bool) -> Lead:
        """From HubSpot form fields (contact property names: firstname, lastname, ...)."""
        mapped = {"email", "firstname", "lastname", "phone", "company", "signup_date"}
        mapped.add("payment_method")
        explicit = values.get("marketing_consent")
        return cls(
            email=values.get("email", "").strip(),
            first_name=values.get("firstname", ""),
            last_name=values.get("lastname", ""),
            phone=values.get("phone", ""),
            company=values.get("company", ""),
            signup_date=values.get("signup_date", ""),
            amount=values.get("amount", ""),
            currency=(values.get("currency") or "usd").lower(),
            payment_method=values.get("payment_method", ""),
            marketing_consent=consent if explicit is None else explicit.lower() in _TRUE,
            extra={k: v for k, v in values.items() if k not in mapped},
        )

    def crm_properties(self) -> dict[str, str]:
        props = {
            "email": self.email,
            "firstname": self.first_name,
            "lastname": self.last_name,
            "phone": self.phone,
            "company": self.company,
            "signup_date": iso_date(self.signup_date) if self.signup_date else "",
            "payment_method": self.payment_method,
            **self.extra,
        }
        return {k: v for k, v in props.items() if v}

    def mail(self) -> dict[str, str]:
        return {
            "to_email": self.email,
            "from_email": WELCOME_FROM,
            "subject": WELCOME_SUBJECT.format(first_name=self.first_name),
        }

    def billing(self) -> dict[str, Any]:
        try:
            cents = int((Decimal(self.amount) * 100).to_integral_value())
        except (InvalidOperation, ValueError):
            cents = -1
        return {
            "email": self.email,
            "name": f"{self.first_name} {self.last_name}".strip(),
            "phone": self.phone,
            "description": INVOICE_DESCRIPTION.format(company=self.company or self.email),
            "payment_method": self.payment_method,
            "currency": self.currency,
            "amount": self.amount,
            "amount_cents": cents,
        }


#: Which tool each action of the automation writes into.
_ACTION_TOOLS = {"email": "sendgrid", "crm": "hubspot", "invoice": "stripe"}


class StepFailed(Exception):
    """A step of the automation failed (the tool refused or was down)."""


#: One action: (lead, copy number) -> outcome text for the run log.
Action = Callable[[Lead, int], str]


class Glue:
    """The catch hook and the automation behind it."""

    tool = "glue"

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        return [
            (method, path, self.catch)
            for path in (
                "/hooks/catch/{hookId}/{token}",
                "/hooks/catch/{hookId}",
                "/hooks/catch/{hookId}/{token}/",
            )
            for method in ("POST", "GET")
        ]

    # Vendor policy ----------------------------------------------------------------------
    @staticmethod
    def authorized(request: web.Request) -> bool:
        return True  # the hook URL is the secret

    @staticmethod
    def unauthorized() -> VendorError:  # pragma: no cover - never asked
        return VendorError(401, {"status": "error"}, "unauthorized")

    @staticmethod
    def rate_limited(request: web.Request) -> VendorError:
        body = {"status": "error", "message": "Too many requests; slow down and try again."}
        return VendorError(429, body, "rate limited")

    @staticmethod
    def unavailable() -> VendorError:
        body = {"status": "error", "message": "Service temporarily unavailable."}
        return VendorError(503, body, "unavailable")

    @staticmethod
    def not_found(request: web.Request) -> VendorError:
        return VendorError(404, {"status": "error", "message": "Hook not found."}, "not found")

    # The hook ---------------------------------------------------------------------------
    async def catch(self, request: web.Request) -> web.Response:
        payloads = _payloads(dict(request.query), await request.read(), request.content_type)
        runs = [self.start(Lead.from_hook(p), source="glue") for p in payloads]
        first = runs[0].id if runs else str(uuid.uuid4())
        return json_response(
            {
                "attempt": first,
                "id": first,
                "request_id": uuid.uuid4().hex[:16],
                "status": "success",
            }
        )

    # The automation -------------------------------------------------------------------
    def start(self, lead: Lead, *, source: str) -> GlueRun:
        """Record a run and schedule it on the event loop; returns at once."""
        run = GlueRun(
            id=str(uuid.uuid4()), source=source, email=lead.email, received_at=self.state.wall()
        )
        self.state.glue_runs.append(run)
        self.state.spawn(self._run(run, lead))
        return run

    async def _run(self, run: GlueRun, lead: Lead) -> None:
        faults = self.state.faults
        try:
            dropped = faults.dropped(run.source, lead.email)
            if dropped is not None:
                run.steps[run.source] = f"dropped ({dropped.spec})"
                return
            await asyncio.sleep(faults.delay_s(run.source))
            copies = faults.times(run.source)
            await asyncio.gather(*(self._once(run, lead) for _ in range(copies)))
        finally:
            run.done = True

    async def _once(self, run: GlueRun, lead: Lead) -> None:
        await asyncio.sleep(self.state.rng.uniform(*self.state.glue_delay_s))
        await asyncio.gather(
            self._step(run, "email", lead, self._email), self._crm_then_invoice(run, lead)
        )

    async def _crm_then_invoice(self, run: GlueRun, lead: Lead) -> None:
        if await self._step(run, "crm", lead, self._crm):
            await self._step(run, "invoice", lead, self._invoice)

    async def _step(self, run: GlueRun, action: str, lead: Lead, do: Action) -> bool:
        """Run one action under its drop / delay / duplicate faults; False if it failed."""
        faults = self.state.faults
        dropped = faults.dropped(action, lead.email)
        if dropped is not None:
            run.steps[action] = f"dropped ({dropped.spec})"
            return True  # nothing failed: the step silently did nothing
        delay = faults.delay_s(action)
        late = f" (after a {delay:.2f}s delay)" if delay else ""
        if delay:
            run.steps[action] = f"delayed {delay:.2f}s"
            await asyncio.sleep(delay)
        outcomes = []
        try:
            for copy in range(faults.times(action)):
                outcomes.append(do(lead, copy))
        except (StepFailed, VendorError) as exc:
            run.steps[action] = f"error: {exc}{late}"
            return False
        run.steps[action] = "; ".join(outcomes) + late
        tool = _ACTION_TOOLS.get(action)
        if tool is not None and any(not o.startswith("skipped") for o in outcomes):
            at = self.state.wall()
            self.state.created.append({"tool": tool, "email": lead.email, "at": at})
        return True

    def _reachable(self, tool: str) -> None:
        if self.state.faults.outage(tool):
            raise StepFailed(f"{tool} answered 503 Service Unavailable (outage@{tool})")

    def _email(self, lead: Lead, copy: int) -> str:
        faults = self.state.faults
        if not lead.marketing_consent and not faults.has("ignore_consent", "email"):
            return "skipped: no marketing consent"
        self._reachable("sendgrid")
        if not lead.email:
            raise StepFailed("no email address in the payload")
        mail = faults.transform("email", lead.mail())
        text = WELCOME_TEXT.format(first_name=lead.first_name)
        sent = sendgrid.deliver(
            self.state,
            to_email=mail.get("to_email", ""),
            from_email=mail.get("from_email", WELCOME_FROM),
            subject=mail.get("subject", ""),
            content=text,
        )
        return f"sent {sent[0]['msg_id']}"

    def _crm(self, lead: Lead, copy: int) -> str:
        self._reachable("hubspot")
        if not lead.email:
            raise StepFailed("no email address in the payload")
        # Straight into the store, unvalidated: a swapped-in "email" must land as it is.
        props = self.state.faults.transform("crm", lead.crm_properties())
        if copy == 0:
            contact = hubspot.upsert_contact(self.state, props)
        else:  # a duplicate: a second create HubSpot did not dedupe
            contact = hubspot.create_contact(self.state, props, unique=False)
        return f"contact {contact['id']}"

    def _invoice(self, lead: Lead, copy: int) -> str:
        faults = self.state.faults
        if lead.payment_method.lower() == "paypal" and faults.has("skip_paypal", "invoice"):
            return "skipped: paypal (skip_paypal@invoice)"
        self._reachable("stripe")
        bill = faults.transform("invoice", lead.billing())
        if bill["amount_cents"] < 0:
            raise StepFailed(f"amount {lead.amount!r} is not a number")
        metadata = {"payment_method": bill.get("payment_method", "")}
        customer = stripe.create_customer(
            self.state,
            {
                "email": bill.get("email", ""),
                "name": bill.get("name", ""),
                "phone": bill.get("phone", ""),
                "metadata": {**metadata, "source": "baton-sandbox-glue"},
            },
            strict=False,  # a swapped-in "email" must land as it is
        )
        stripe.create_invoiceitem(
            self.state,
            {
                "customer": customer["id"],
                "amount": str(bill["amount_cents"]),
                "currency": bill["currency"],
                "description": bill.get("description", ""),
            },
        )
        invoice = stripe.create_invoice(
            self.state,
            {
                "customer": customer["id"],
                "collection_method": "send_invoice",
                "days_until_due": str(INVOICE_DAYS_UNTIL_DUE),
                "auto_advance": "false",
                "pending_invoice_items_behavior": "include",
                "description": bill.get("description", ""),
                "metadata": metadata,
            },
        )
        stripe.finalize_invoice(self.state, invoice["id"])
        return f"invoice {invoice['id']}"


def _payloads(query: dict[str, str], raw: bytes, content_type: str) -> list[dict[str, Any]]:
    """What Zapier makes of a hook request: query string plus body, a list body → many."""
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        return [query]
    if content_type == "application/x-www-form-urlencoded":
        return [{**query, **dict(parse_qsl(text, keep_blank_values=True))}]
    try:
        body = json.loads(text)
    except ValueError:
        return [{**query, **dict(parse_qsl(text, keep_blank_values=True))}]
    if isinstance(body, list):
        return [{**query, **item} for item in body if isinstance(item, dict)]
    if isinstance(body, dict):
        return [{**query, **body}]
    return [query]
