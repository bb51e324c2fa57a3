"""Serving the bot: HTTP mode (signed requests on ``/slack/events``) and Socket Mode.

In HTTP mode every request is verified at the edge, on the raw body bytes, before anything
parses it: the ``X-Slack-Signature`` HMAC and the ``X-Slack-Request-Timestamp`` (at most
five minutes old or ahead). A refused request is logged with the reason, the peer address
and its size, never its body. (bolt verifies again behind this; it would log the body.)

    runner, port = await start_http(bot, signing_secret=secret, host="127.0.0.1", port=0)
    ...
    await runner.cleanup()
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Protocol

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from .app import Bot, deferring_work

log = logging.getLogger("bot.server")

EVENTS_PATH = "/slack/events"
#: Slack's own window for a request's timestamp.
MAX_AGE_S = 300
#: Slash commands and events are a few KB; anything much bigger is not from Slack.
MAX_BODY = 256 * 1024


def check_signature(
    *,
    signing_secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: float,
) -> str | None:
    """``None`` when the request is Slack's, else why not (safe to log)."""
    if not timestamp or not signature:
        return "no signature headers"
    try:
        ts = int(timestamp)
    except ValueError:
        return "malformed timestamp"
    age = now - ts
    if age > MAX_AGE_S:
        return f"stale timestamp ({int(age)} s old; replay?)"
    if age < -MAX_AGE_S:
        return f"timestamp {int(-age)} s in the future"
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return "bad signature"
    return None


def _ssl_check(media: str, body: bytes) -> bool:
    """Slack's SSL check of a command URL: a small form ``ssl_check=1&token=…``, no command."""
    if media.lower() != "application/x-www-form-urlencoded" or len(body) > 1_000:
        return False
    try:
        form = urllib.parse.parse_qs(body.decode("ascii"), strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return False
    return form.get("ssl_check") == ["1"] and "command" not in form


def _slack_shaped(media: str, text: str) -> bool:
    """A form (slash commands, interactivity) or an Events API JSON object with a type.
    An interactivity form's ``payload`` must be a JSON object (bolt would fail on it)."""
    if media == "application/x-www-form-urlencoded":
        payload = urllib.parse.parse_qs(text).get("payload")
        if payload is None:
            return True
        try:
            return len(payload) == 1 and isinstance(json.loads(payload[0]), dict)
        except ValueError:
            return False
    if media != "application/json":
        return False
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and isinstance(data.get("type"), str) and "command" not in data


class Router(Protocol):
    """Several workspaces behind one endpoint (``baton.bot.workspaces.Workspaces``)."""

    @property
    def busy(self) -> int: ...

    async def route(self, request: AsyncBoltRequest) -> Bot | BoltResponse: ...

    def add_routes(self, app: web.Application) -> None: ...


def make_web_app(
    bot: Bot | Router,
    *,
    signing_secret: str,
    path: str = EVENTS_PATH,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """An aiohttp app: ``POST {path}`` for Slack, ``GET /healthz`` for load balancers.

    With a ``Router`` (``slack.oauth``), each verified request goes to the bot of the
    workspace it comes from, and the router adds its own routes (install, OAuth redirect).
    """
    if not signing_secret:
        raise ValueError("HTTP mode needs the signing secret")

    async def events(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if _ssl_check(request.content_type, body):
            # Slack checking the certificate of a slash command's URL: it may come unsigned,
            # wants a 200 and nothing else, and changes nothing here.
            return web.Response(status=200)
        why = check_signature(
            signing_secret=signing_secret,
            body=body,
            timestamp=request.headers.get("X-Slack-Request-Timestamp"),
            signature=request.headers.get("X-Slack-Signature"),
            now=clock(),
        )
        if why is not None:
            log.warning(
                "refused a request to %s from %s: %s (%d bytes, body not logged)",
                path,
                request.remote,
                why,
                len(body),
            )
            return web.json_response({"error": "invalid request"}, status=401)
        media = request.content_type.lower()
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return web.json_response({"error": "body is not UTF-8"}, status=400)
        if not _slack_shaped(media, text):
            # Slack posts commands and interactions as a form, and events as JSON with a
            # "type"; a signed body of any other kind is malformed, however it is signed.
            log.warning(
                "refused a request to %s from %s: unexpected body (%s, %d bytes, not logged)",
                path,
                request.remote,
                media or "no content type",
                len(body),
            )
            return web.json_response({"error": "invalid request"}, status=400)
        headers: dict[str, str | Sequence[str]] = {
            k.lower(): request.headers.getall(k) for k in request.headers
        }
        bolt_request = AsyncBoltRequest(body=text, query=request.query_string, headers=headers)
        target = bot if isinstance(bot, Bot) else await bot.route(bolt_request)
        if isinstance(target, BoltResponse):
            return await to_aiohttp_response(target)
        with deferring_work() as held:
            bolt_response = await target.app.async_dispatch(bolt_request)
        if not held:
            return await to_aiohttp_response(bolt_response)
        # Send the ack first; only then let the run's first steps have the loop. The work
        # is claimed already (a retry of this request is ignored as a duplicate), so it runs
        # whether or not the ack reaches Slack: Slack may have closed the connection (after
        # its 3 s), and writing the ack then fails.
        response = await to_aiohttp_response(bolt_response)
        try:
            await response.prepare(request)
            await response.write_eof()
        except (ConnectionError, aiohttp.ClientError) as exc:
            log.warning(
                "could not send the ack to %s (%s: the connection was closed); "
                "the request's work runs anyway",
                request.remote,
                type(exc).__name__,
            )
        finally:
            for work in held:
                target.spawn(work)
        return response

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "runs_in_flight": bot.busy})

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post(path, events)
    app.router.add_get("/healthz", healthz)
    if not isinstance(bot, Bot):
        bot.add_routes(app)
    return app


async def start_http(
    bot: Bot | Router,
    *,
    signing_secret: str,
    host: str = "127.0.0.1",
    port: int = 3000,
    path: str = EVENTS_PATH,
) -> tuple[web.AppRunner, int]:
    """Listen on ``host:port`` (``0``: any free port); returns the runner and the port."""
    runner = web.AppRunner(
        make_web_app(bot, signing_secret=signing_secret, path=path), access_log=None
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    return runner, int(bound)


__all__ = ["EVENTS_PATH", "MAX_AGE_S", "Router", "check_signature", "make_web_app", "start_http"]
