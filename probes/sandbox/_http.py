"""Small HTTP helpers shared by the stand-ins: JSON answers, vendor errors, bodies, auth."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Route = tuple[str, str, Handler]  # method, path (without the tool prefix), handler

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(data, status=status, headers=headers)


def as_text(value: Any) -> str:
    """A JSON value as vendors store a string property: ``True`` -> ``"true"``, None -> ``""``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class VendorError(Exception):
    """An error answer in the vendor's own shape; the app turns it into the response.

    Raised by the stand-ins' operations, so the glue (which calls them directly) sees the
    same failures a client over HTTP would.
    """

    def __init__(
        self,
        status: int,
        body: Any,
        message: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}
        super().__init__(message)

    def response(self) -> web.Response:
        if self.body is None:
            return web.Response(status=self.status, headers=self.headers)
        return json_response(self.body, self.status, self.headers)


async def read_body(request: web.Request) -> Any:
    """The request body as JSON (dict/list), form pairs (dict) or text; None when empty."""
    raw = await request.read()
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    ctype = request.content_type
    if ctype == "application/x-www-form-urlencoded":
        return dict(parse_qsl(text, keep_blank_values=True))
    if ctype.endswith("json") or text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


async def read_json(request: web.Request) -> Any:
    """The body parsed as JSON; ``ValueError`` when it is not JSON."""
    raw = await request.read()
    return json.loads(raw.decode("utf-8")) if raw else None


def decode_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Stripe-style nested form keys into nested dicts and lists.

    >>> decode_form([("metadata[plan]", "pro"), ("expand[]", "lines"), ("amount", "4900")])
    {'metadata': {'plan': 'pro'}, 'expand': ['lines'], 'amount': '4900'}
    """
    out: dict[str, Any] = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        parts = [head, *re.findall(r"\[([^\]]*)\]", "[" + rest)] if rest else [head]
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if last:
                    node.append(value)
                else:
                    node.append({} if parts[i + 1] else [])
                    node = node[-1]
                continue
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, [] if parts[i + 1] == "" else {})
    return out


def bearer_token(request: web.Request) -> str | None:
    """The token from ``Authorization: Bearer <token>``, or None."""
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def basic_user(request: web.Request) -> str | None:
    """The user name from ``Authorization: Basic ...`` (Stripe takes the key there)."""
    auth = request.headers.get("Authorization", "")
    scheme, _, encoded = auth.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user = base64.b64decode(encoded.strip()).decode("utf-8").partition(":")[0]
    except (ValueError, UnicodeDecodeError):
        return None
    return user or None


def iso_ms(when: float) -> str:
    """HubSpot's timestamp form: ``2026-03-04T10:11:12.345Z``."""
    stamp = dt.datetime.fromtimestamp(when, dt.UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def iso_s(when: float) -> str:
    """SendGrid's timestamp form: ``2026-03-04T10:11:12Z``."""
    stamp = dt.datetime.fromtimestamp(when, dt.UTC).isoformat(timespec="seconds")
    return stamp.replace("+00:00", "Z")
