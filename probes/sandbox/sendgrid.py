"""SendGrid stand-in (``https://api.sendgrid.com``), mounted at ``/sendgrid``.

- ``POST /v3/mail/send``: validates the shape ``sendgrid.mail_send.v3.json`` requires
  (personalizations[].to[].email, from.email, a subject or template_id, content unless a
  template) and answers 202 with an ``X-Message-Id`` header and no body.
- ``GET /v3/messages?query=to_email%3D%22a%40example.com%22&limit=10``: Email Activity
  (``sendgrid.email_activity.v3.json``), one message per recipient, newest first. A message
  shows up only ``lag`` seconds after it was sent (``search_lag_s``, or ``lag@sendgrid``).
  ``limit`` 1-1000. The query may name many recipients (``to_email="a@x.io" OR
  to_email="b@x.io"``, ``to_email IN ("a@x.io", "b@x.io")``), group with parentheses, and
  window the time (``last_event_time BETWEEN TIMESTAMP "2026-11-29T10:00:00Z" AND
  TIMESTAMP "2026-11-29T10:05:00Z"``); see ``_query.parse_sendgrid_query``. Other syntax
  is a 400 ``{"errors": [{"message": "invalid syntax: ..."}]}``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._http import EMAIL_RE, Route, VendorError, bearer_token, iso_s, json_response, read_json
from ._query import QueryError, parse_sendgrid_query
from ._state import Obj, SandboxState

__all__ = ["SendGridApi", "deliver", "sendgrid_error"]


def sendgrid_error(status: int, message: str, field: str | None = None) -> VendorError:
    """``{"errors": [{"message", "field"}]}``, SendGrid's error shape.

    (Live SendGrid adds a ``help`` link as a string; the spec types ``help`` as an object,
    so the stand-in leaves it out.)
    """
    return VendorError(status, {"errors": [{"message": message, "field": field}]}, message)


def deliver(
    state: SandboxState,
    *,
    to_email: str,
    from_email: str,
    subject: str,
    content: str = "",
    x_message_id: str | None = None,
    template_id: str | None = None,
) -> list[Obj]:
    """Store one sent message (as Email Activity will show it) and return it."""
    xid = x_message_id or state.token(22)
    n = len(state.messages)
    now = state.wall()
    msg: Obj = {
        "id": f"{xid}.{n}",
        "msg_id": f"{xid}.filter0001p1las1-{state.next_number()}-{state.token(8)}-{n}.0",
        "from_email": from_email,
        "to_email": to_email,
        "subject": subject,
        "status": "delivered",
        "opens_count": 0,
        "clicks_count": 0,
        "last_event_time": iso_s(now),
        "template_id": template_id,
        "_content": content,
    }
    return [state.messages.put(msg)]


def _activity_view(msg: Obj) -> dict[str, Any]:
    keys = ("from_email", "msg_id", "subject", "to_email", "status", "opens_count")
    return {k: msg[k] for k in (*keys, "clicks_count", "last_event_time")}


def _validate_mail(body: Any) -> list[tuple[str, str, str]]:
    """(to_email, subject, from_email) for every recipient; SendGrid's 400 otherwise."""
    if not isinstance(body, dict):
        raise sendgrid_error(400, "Bad Request", None)
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        raise sendgrid_error(
            400,
            "The personalizations field is required and must have at least one personalization.",
            "personalizations",
        )
    sender = body.get("from")
    if not isinstance(sender, dict) or not sender.get("email"):
        raise sendgrid_error(
            400,
            "The from object must be provided for every email send. It is an object that "
            "requires the email parameter, but may also contain a name parameter.  e.g. "
            '{"email" : "example@example.com"}  or {"email" : "example@example.com", '
            '"name" : "Example Recipient"}.',
            "from.email",
        )
    if not EMAIL_RE.match(str(sender["email"])):
        raise sendgrid_error(400, "Does not contain a valid address.", "from.email")
    template = body.get("template_id")
    contents = body.get("content")
    if not template:
        if not isinstance(contents, list) or not contents:
            raise sendgrid_error(
                400,
                "Unless a valid template_id is provided, the content parameter is required. "
                "There must be at least one defined content block. We typically suggest both "
                "text/plain and text/html blocks are included, but only one block is required.",
                "content",
            )
        for i, block in enumerate(contents):
            if not isinstance(block, dict) or not block.get("type") or not block.get("value"):
                raise sendgrid_error(
                    400,
                    "The content value must be a string at least one character in length.",
                    f"content.{i}.value",
                )
    out = []
    for i, p in enumerate(personalizations):
        to = p.get("to") if isinstance(p, dict) else None
        if not isinstance(to, list) or not to:
            raise sendgrid_error(
                400,
                "The to array is required for all personalization objects, and must have at "
                "least one email object with a valid email address.",
                f"personalizations.{i}.to",
            )
        subject = p.get("subject") or body.get("subject")
        if not subject and not template:
            raise sendgrid_error(
                400,
                "The subject is required. You can get around this requirement if you use a "
                "template with a subject defined or if every personalization has a subject "
                "defined.",
                "subject",
            )
        recipients = [*to, *(p.get("cc") or []), *(p.get("bcc") or [])]
        for j, rcpt in enumerate(recipients):
            email = rcpt.get("email") if isinstance(rcpt, dict) else None
            if not isinstance(email, str) or not EMAIL_RE.match(email):
                raise sendgrid_error(
                    400, "Does not contain a valid address.", f"personalizations.{i}.to.{j}.email"
                )
            out.append((email, str(subject or ""), str(sender["email"])))
    return out


class SendGridApi:
    """``/v3/mail/send`` and ``/v3/messages``."""

    tool = "sendgrid"

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        return [("POST", "/v3/mail/send", self.send), ("GET", "/v3/messages", self.messages)]

    @staticmethod
    def authorized(request: web.Request) -> bool:
        return bearer_token(request) is not None

    @staticmethod
    def unauthorized() -> VendorError:
        return sendgrid_error(401, "authorization required")

    @staticmethod
    def rate_limited(request: web.Request) -> VendorError:
        err = sendgrid_error(429, "too many requests")
        err.headers.update({"X-RateLimit-Limit": "6", "X-RateLimit-Remaining": "0"})
        return err

    @staticmethod
    def unavailable() -> VendorError:
        return sendgrid_error(503, "service unavailable")

    @staticmethod
    def not_found(request: web.Request) -> VendorError:
        return sendgrid_error(404, "resource not found")

    async def send(self, request: web.Request) -> web.Response:
        try:
            body = await read_json(request)
        except ValueError as exc:
            raise sendgrid_error(400, "Bad Request: body is not valid JSON") from exc
        recipients = _validate_mail(body)
        xid = self.state.token(22)
        content = next((c.get("value", "") for c in body.get("content") or []), "")
        for to_email, subject, from_email in recipients:
            deliver(
                self.state,
                to_email=to_email,
                from_email=from_email,
                subject=subject,
                content=str(content),
                x_message_id=xid,
                template_id=body.get("template_id"),
            )
        return web.Response(status=202, headers={"X-Message-Id": xid})

    async def messages(self, request: web.Request) -> web.Response:
        try:
            query = parse_sendgrid_query(request.query.get("query", ""))
        except QueryError as exc:
            raise sendgrid_error(400, str(exc)) from exc
        raw_limit = request.query.get("limit", "10")
        try:
            limit = int(float(raw_limit))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 1000:
            raise sendgrid_error(400, "limit must be greater than 0 and at most 1000", "limit")
        visible = self.state.messages.indexed(self.state.lag("sendgrid"))
        found = [m for m in reversed(visible) if query.matches(m)][:limit]
        return json_response({"messages": [_activity_view(m) for m in found]})
