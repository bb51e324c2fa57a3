"""HubSpot Forms submission stand-in (``https://api.hsforms.com``), mounted at ``/hsforms``.

``POST /submissions/v3/integration/submit/{portalId}/{formGuid}`` (no auth; the
``/secure/submit/`` variant wants a Bearer token) takes::

    {"fields": [{"objectTypeId": "0-1", "name": "email", "value": "ada@example.com"}, ...],
     "context": {"pageUri": "...", "pageName": "..."},
     "legalConsentOptions": {"consent": {"communications": [{"value": true, ...}], ...}}}

and answers 200 ``{"inlineMessage": "Thanks for submitting the form."}``, or 400 in the
Forms API's error shape (``errors[].errorType``: REQUIRED_FIELD, INVALID_EMAIL,
FIELD_NOT_IN_FORM_DEFINITION, ...). Field names are contact property names (email,
firstname, lastname, phone, company, signup_date, amount, currency, payment_method,
marketing_consent). An accepted submission runs the glue automation with
``source="hsforms"``: HubSpot writes the contact, and a workflow sends the welcome mail and
the invoice. Marketing consent comes from a ``marketing_consent`` field, else from
``legalConsentOptions`` (a communications checkbox left unticked withholds it); a form that
asks neither gets the welcome mail.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from ._http import EMAIL_RE, Route, VendorError, as_text, bearer_token, json_response, read_json
from .glue import Glue, Lead
from .hubspot import PROPERTIES, HubSpotApi

__all__ = ["FORM_FIELDS", "HsFormsApi", "form_error"]

#: Fields the sandbox's form has: every contact property of the portal.
FORM_FIELDS = PROPERTIES
THANKS = "Thanks for submitting the form."


def form_error(errors: list[tuple[str, str]], status: int = 400) -> VendorError:
    """The Forms API's error shape; ``errors`` holds (errorType, message) pairs."""
    body = {
        "status": "error",
        "message": "The request is not valid",
        "correlationId": str(uuid.uuid4()),
        "errors": [{"message": m, "errorType": t} for t, m in errors],
        "requestId": uuid.uuid4().hex,
    }
    return VendorError(status, body, "; ".join(m for _, m in errors))


def _consent(options: Any) -> bool:
    """Marketing consent from ``legalConsentOptions``: withheld only when the form asked
    (``consent.communications``) and no box was ticked. A form that does not ask mails
    everyone, as a HubSpot workflow sending a welcome mail to new contacts does."""
    if not isinstance(options, dict) or isinstance(options.get("legitimateInterest"), dict):
        return True
    consent = options.get("consent")
    comms = consent.get("communications") if isinstance(consent, dict) else None
    if not isinstance(comms, list) or not comms:
        return True
    return any(isinstance(c, dict) and c.get("value") is True for c in comms)


def parse_submission(body: Any) -> tuple[dict[str, str], bool]:
    """(field values by name, marketing consent), or the Forms API's 400."""
    if not isinstance(body, dict):
        raise form_error([("INVALID_JSON", "Invalid JSON: expected an object with 'fields'")])
    fields = body.get("fields")
    if not isinstance(fields, list) or not fields:
        raise form_error([("REQUIRED_FIELD", "Error in 'fields'. At least one field is required")])
    values: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    for i, item in enumerate(fields):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            problems.append(
                ("INVALID_FIELD", f"Error in 'fields[{i}]'. Each field needs a name and a value")
            )
            continue
        name = item["name"]
        object_type = item.get("objectTypeId", "0-1")
        if object_type != "0-1":
            problems.append(
                (
                    "INVALID_OBJECT_TYPE_ID",
                    f"Error in 'fields.{name}'. objectTypeId {object_type!r} is not on this form",
                )
            )
            continue
        if name not in FORM_FIELDS:
            problems.append(
                (
                    "FIELD_NOT_IN_FORM_DEFINITION",
                    f"Error in 'fields.{name}'. Field '{name}' is not in the form definition",
                )
            )
            continue
        values[name] = as_text(item.get("value"))
    email = values.get("email", "").strip()
    if not email and not problems:
        problems.append(
            ("REQUIRED_FIELD", "Error in 'fields.email'. Required field 'email' is missing")
        )
    elif email and not EMAIL_RE.match(email):
        problems.append(("INVALID_EMAIL", "Error in 'fields.email'. Invalid email address"))
    if problems:
        raise form_error(problems)
    return values, _consent(body.get("legalConsentOptions"))


class HsFormsApi:
    """The Forms submission endpoints; accepted submissions go to the glue."""

    tool = "hsforms"

    def __init__(self, glue: Glue) -> None:
        self.glue = glue

    def routes(self) -> list[Route]:
        return [
            ("POST", "/submissions/v3/integration/submit/{portalId}/{formGuid}", self.submit),
            (
                "POST",
                "/submissions/v3/integration/secure/submit/{portalId}/{formGuid}",
                self.secure_submit,
            ),
        ]

    @staticmethod
    def authorized(request: web.Request) -> bool:
        return True  # the public endpoint needs none; secure_submit checks its own

    unauthorized = staticmethod(HubSpotApi.unauthorized)
    rate_limited = staticmethod(HubSpotApi.rate_limited)
    unavailable = staticmethod(HubSpotApi.unavailable)
    not_found = staticmethod(HubSpotApi.not_found)

    async def submit(self, request: web.Request) -> web.Response:
        portal = request.match_info["portalId"]
        if not portal.isdigit():
            raise form_error(
                [("INVALID_PORTAL_ID", f"Invalid portalId {portal!r}: must be a number")]
            )
        try:
            body = await read_json(request)
        except ValueError as exc:
            raise form_error([("INVALID_JSON", f"Invalid JSON: {exc}")]) from exc
        values, consent = parse_submission(body)
        self.glue.start(Lead.from_form(values, consent=consent), source="hsforms")
        return json_response({"inlineMessage": THANKS})

    async def secure_submit(self, request: web.Request) -> web.Response:
        if bearer_token(request) is None:
            raise HubSpotApi.unauthorized()
        return await self.submit(request)
