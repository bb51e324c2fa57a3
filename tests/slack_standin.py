"""A local stand-in for the Slack Web API, and helpers to sign requests like Slack does.

``SlackStandIn`` is an aiohttp app on 127.0.0.1, port 0. It records every call (method,
params, headers, content type), answers like Slack (``{"ok": true, "channel": ..., "ts":
...}``), keeps the messages it was sent (updates applied) so a test can read a thread, and
on demand answers 429 with ``Retry-After`` or an error such as ``not_in_channel`` (also
after posting the message: ``fail(..., posted=True)``, as a 5xx can), or holds an answer
back after doing the work (``stall``). Messages keep their ``metadata``, and
``conversations.history`` / ``conversations.replies`` read them back (``oldest``, pages,
``include_all_metadata``; ``channels:history`` needed, ``not_in_channel`` for the channels in
``not_member``).

Membership, as Slack has it: the bot is a member of the channels in ``joined`` (by default
the workspace's two channels; ``conversations.join`` adds a public one, ``conversations.open``
its DM with a person). ``chat:write.public`` lets it post in a public channel it is not in,
never share a file there (``not_in_channel``); a private channel (``private``, or a ``G…`` ID)
or a DM (``D…``) it is not in is ``channel_not_found`` for both. ``channel_limit`` (a burst
and a rate a second) answers posts, updates and file shares past it with 429 and
``Retry-After``, per channel, as Slack does (off unless set).

Response URLs (``/hooks/<name>``; ``response_url(name)`` issues one, at the stand-in's
clock) take five uses within 30 minutes, then answer 404 ``used_url`` / ``expired_url``.
Each message they take is kept in ``hook_messages(name)``: a slash command's response is
never replaced, so ``replace_original`` adds a message (marked ``asked_to_replace``) rather
than changing one, as in Slack. It also serves the three steps of
``files_upload_v2``: ``files.getUploadURLExternal`` answers an ``upload_url`` on the
stand-in itself (``/upload/<file id>``), the bytes POSTed there are kept in ``uploads``
(recorded as calls of method ``"upload"``), and ``files.completeUploadExternal`` shares
them in ``files`` (channel, ``thread_ts``, title, bytes) and adds a file message to the
thread.

For Slack's UI it keeps what a person would see: ``views.open`` needs a ``trigger_id`` the
stand-in handed out (``trigger()``, as Slack puts one in each interaction payload), once, within
``trigger_ttl_s`` (3 s, Slack's window; ``expired_trigger_id`` when used twice or late,
``invalid_trigger_id`` for one it never issued) and a modal view; the modals opened are in
``views``. ``views.publish`` keeps each user's Home tab in ``homes`` (a ``home`` view only).
``conversations.open`` (``im:write``) answers the bot's DM channel with a user.

Socket Mode: ``/link`` is the WebSocket ``apps.connections.open`` hands out (a ``hello``
first); ``socket_command`` sends a slash command in a ``slash_commands`` envelope and
``socket_interactive`` an interaction payload in an ``interactive`` one, each returning the
app's ack envelope (its ``payload``: what the app answered in the ack).

``spec_violations(call)`` checks one recorded call against the Slack Web API OpenAPI 2.0
spec kept in ``tests/specs/slack.web.v2.json``.

    async with SlackStandIn(token="xoxb-test") as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        slack.fail("chat.postMessage", "not_in_channel")
        slack.rate_limit("chat.update", retry_after=1)
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from _specs import SPECS, load_json
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

SPEC_PATH = SPECS / "slack.web.v2.json"
#: A slash command's response URL: five uses within 30 minutes (Slack's docs).
HOOK_USES = 5
HOOK_TTL_S = 30 * 60.0


@dataclass
class Call:
    """One request the stand-in received."""

    method: str  # "chat.postMessage", or "response_url"
    params: dict[str, Any]
    headers: dict[str, str]
    content_type: str
    http_verb: str
    path: str
    at: float = field(default_factory=time.monotonic)
    answer: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Failure:
    error: str
    status: int
    retry_after: int | None
    times: int
    skip: int = 0
    posted: bool = False  # the call did its work before failing (a 5xx after the post)


@dataclass
class _Stall:
    seconds: float
    times: int
    skip: int = 0


class SlackStandIn:
    """See the module docstring. Usable in the test's loop or in a thread of its own."""

    def __init__(
        self,
        *,
        token: str | None = "xoxb-test",
        app_token: str | None = None,
        latency_s: float = 0.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.token = token
        self.app_token = app_token
        self._sockets: list[web.WebSocketResponse] = []
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.latency_s = latency_s
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._stalls: dict[str, list[_Stall]] = {}
        #: Calls answered after a stall, and those held back right now.
        self.stalled = 0
        self.stalling = 0
        #: Message ts follow this clock when given (Slack's ts are its clock's time).
        self.clock = clock
        self._ts = 1_700_000_000_000_000
        self._file_ids = 0
        #: Upload URLs handed out: file id -> {"filename", "length"} as declared.
        self.upload_urls: dict[str, dict[str, Any]] = {}
        #: Bytes POSTed to an upload URL, by file id.
        self.uploads: dict[str, bytes] = {}
        #: Files shared by files.completeUploadExternal, by file id.
        self.files: dict[str, dict[str, Any]] = {}
        #: The workspace's channels, as conversations.list shows them: ID -> name, and
        #: archived ones; ``page_size`` small enough to make clients follow the cursor.
        self.channels: dict[str, str] = {"C0PROBES": "probes", "C0OPS": "ops-alerts"}
        self.archived: set[str] = set()
        self.page_size = 2
        #: The scopes the bot token has (``missing_scope`` for a method that needs another).
        self.scopes = {
            "chat:write",
            "chat:write.public",
            "files:write",
            "channels:read",
            "groups:read",
            "channels:history",
            "groups:history",
            "channels:join",
            "im:write",
        }
        #: Trigger ids handed out (``trigger()``): id -> when (monotonic); used ones.
        self.triggers: dict[str, float] = {}
        self.used_triggers: set[str] = set()
        self.trigger_ttl_s = 3.0
        #: Modals opened (views.open), in order; each user's published Home tab.
        self.views: list[dict[str, Any]] = []
        self.homes: dict[str, dict[str, Any]] = {}
        #: Channels the bot is not a member of: reading their history is ``not_in_channel``.
        self.not_member: set[str] = set()
        #: Channels the bot is a member of (see the module docstring), and private ones.
        self.joined: set[str] = set(self.channels)
        self.private: set[str] = set()
        #: (burst, per second) per channel for posts, updates and file shares; None: no limit.
        self.channel_limit: tuple[int, float] | None = None
        self._buckets: dict[str, tuple[float, float]] = {}  # channel -> (tokens, at)
        #: Calls answered 429 by ``channel_limit``.
        self.limited = 0
        #: Response URLs: name -> issued at (the stand-in's clock), uses, messages taken.
        self.hooks: dict[str, dict[str, Any]] = {}
        #: More workspaces: bot token -> what auth.test says for it (team_id, user_id ...).
        #: ``install`` adds one through ``oauth.v2.access``, as Slack does on installation.
        self.teams: dict[str, dict[str, Any]] = {}
        #: The app's OAuth credentials (client ID -> client secret) and the one-time codes
        #: Slack would hand the installer's browser: code -> the workspace it installs into.
        self.oauth_clients: dict[str, str] = {}
        self.oauth_codes: dict[str, dict[str, Any]] = {}
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.url = ""

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> SlackStandIn:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/hooks/{name}", self._hook)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/link", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        for ws in self._sockets:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SlackStandIn:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start_in_thread(self) -> SlackStandIn:
        """Serve from a thread with its own event loop (benchmarks: keep it off the bot's)."""
        ready = threading.Event()

        def main() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.start())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self.stop())
            self._loop.close()

        self._thread = threading.Thread(target=main, name="slack-standin", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop_thread(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str = "cmd") -> str:
        """A response URL, issued now (the 30 minutes count from here)."""
        self._hook_state(name)
        return f"{self.url}/hooks/{name}"

    def trigger(self) -> str:
        """A fresh trigger id, as Slack puts one in a command or interaction payload."""
        tid = f"{len(self.triggers) + 1}.{time.monotonic_ns()}.standin"
        self.triggers[tid] = time.monotonic()
        return tid

    def now(self) -> float:
        return self.clock() if self.clock is not None else time.time()

    def _hook_state(self, name: str) -> dict[str, Any]:
        return self.hooks.setdefault(name, {"issued": self.now(), "uses": 0, "messages": []})

    def hook_messages(self, name: str = "cmd") -> list[dict[str, Any]]:
        """What a response URL posted, oldest first: ``response_type`` (``ephemeral`` unless
        said), ``text``, ``blocks``, ``asked_to_replace``. Nothing is ever replaced."""
        return list(self.hooks.get(name, {}).get("messages", []))

    def kind(self, channel: str) -> str:
        """``public``, ``private`` or ``dm``, as Slack would tell them apart."""
        if channel.startswith("D"):
            return "dm"
        if channel in self.private or channel.startswith("G"):
            return "private"
        return "public"

    def is_member(self, channel: str) -> bool:
        return channel in self.joined and channel not in self.not_member

    # -- programming failures ----------------------------------------------------------------

    def fail(
        self,
        method: str,
        error: str,
        *,
        times: int = 1,
        status: int = 200,
        skip: int = 0,
        retry_after: int | None = None,
        posted: bool = False,
    ) -> None:
        """After ``skip`` calls of ``method``, the next ``times`` answer ``{"ok": false,
        "error": error}`` (with ``status``, and ``Retry-After`` if given); with ``posted``
        the call does its work first (a message posted, then a 500)."""
        failure = _Failure(error, status, retry_after, times, skip, posted)
        self._failures.setdefault(method, []).append(failure)

    def stall(self, method: str, seconds: float, *, times: int = 1, skip: int = 0) -> None:
        """After ``skip`` calls of ``method``, the next ``times`` do their work, then hold
        the answer back ``seconds`` (a client that gives up or dies meanwhile never hears)."""
        self._stalls.setdefault(method, []).append(_Stall(seconds, times, skip))

    def rate_limit(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer 429 with ``Retry-After``."""
        self._failures.setdefault(method, []).append(
            _Failure("ratelimited", 429, retry_after, times)
        )

    def _take_stall(self, method: str) -> _Stall | None:
        queue = self._stalls.get(method)
        if not queue:
            return None
        stall = queue[0]
        if stall.skip > 0:
            stall.skip -= 1
            return None
        stall.times -= 1
        if stall.times <= 0:
            queue.pop(0)
        return stall

    def _take_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        if failure.skip > 0:
            failure.skip -= 1
            return None
        failure.times -= 1
        if failure.times <= 0:
            queue.pop(0)
        return failure

    # -- reading what happened ---------------------------------------------------------------

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """The replies in a thread, oldest first (as they stand now)."""
        return [
            m
            for (ch, _), m in sorted(self.messages.items(), key=lambda kv: kv[0][1])
            if ch == channel and m.get("thread_ts") == ts
        ]

    # -- handlers ----------------------------------------------------------------------------

    async def _read(self, request: web.Request) -> tuple[dict[str, Any], str]:
        ctype = request.content_type
        raw = await request.read()
        if ctype == "application/json":
            return (json.loads(raw) if raw else {}), ctype
        form = urllib.parse.parse_qs(raw.decode(), keep_blank_values=True)
        params: dict[str, Any] = {k: v[-1] for k, v in form.items()}
        params.update({k: v for k, v in request.query.items() if k not in params})
        return params, ctype

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params, ctype = await self._read(request)
        headers = dict(request.headers)
        call = Call(method, params, headers, ctype, request.method, request.path)
        self.calls.append(call)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        auth = request.headers.get("Authorization", "")
        if method == "oauth.v2.access":
            call.answer = self._oauth_access(auth, params)
            return web.json_response(call.answer)
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else params.get("token")
        if not token:
            return web.json_response({"ok": False, "error": "not_authed"})
        if method == "apps.connections.open":
            if self.app_token is None or token != self.app_token:
                return web.json_response({"ok": False, "error": "invalid_auth"})
            call.answer = {"ok": True, "url": self.url.replace("http", "ws", 1) + "/link"}
            return web.json_response(call.answer)
        if self.token is not None and token != self.token and token not in self.teams:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if method == "auth.test" and token in self.teams:
            call.answer = {"ok": True, **self.teams[token]}
            return web.json_response(call.answer)
        failure = self._take_failure(method)
        if failure is not None:
            if failure.posted:
                self._answer(method, params)
            hdrs = {"Retry-After": str(failure.retry_after)} if failure.retry_after else {}
            call.answer = {"ok": False, "error": failure.error}
            return web.json_response(call.answer, status=failure.status, headers=hdrs)
        refused = self._refusal(method, params)
        if refused is not None:
            call.answer = refused
            hdrs = {}
            if refused.get("error") == "ratelimited":
                hdrs = {"Retry-After": str(refused.pop("retry_after"))}
            return web.json_response(call.answer, status=429 if hdrs else 200, headers=hdrs)
        call.answer = self._answer(method, params)
        stall = self._take_stall(method)
        if stall is not None:
            self.stalled += 1
            self.stalling += 1
            try:
                await asyncio.sleep(stall.seconds)
            finally:
                self.stalling -= 1
        return web.json_response(call.answer)

    def _refusal(self, method: str, p: dict[str, Any]) -> dict[str, Any] | None:
        """What Slack says before doing ``method``: not a member, or too fast."""
        if method in ("chat.postMessage", "chat.update"):
            channel, files = str(p.get("channel", "")), False
        elif method == "files.completeUploadExternal" and p.get("channel_id"):
            channel, files = str(p["channel_id"]), True
        else:
            return None
        if not self.is_member(channel):
            kind = self.kind(channel)
            if kind != "public":
                return {"ok": False, "error": "channel_not_found"}
            if files or "chat:write.public" not in self.scopes:
                return {"ok": False, "error": "not_in_channel"}
        if self.channel_limit is not None:
            burst, per_s = self.channel_limit
            now = time.monotonic()
            tokens, at = self._buckets.get(channel, (float(burst), now))
            tokens = min(float(burst), tokens + (now - at) * per_s)
            if tokens < 1.0:
                self._buckets[channel] = (tokens, now)
                self.limited += 1
                wait = max(1, int((1.0 - tokens) / per_s + 0.999))
                return {"ok": False, "error": "ratelimited", "retry_after": wait}
            self._buckets[channel] = (tokens - 1.0, now)
        return None

    def install(self, code: str, *, team_id: str, team_name: str = "Agency") -> str:
        """Ready ``code`` (one use) to install the app in ``team_id``; its future bot token."""
        token = f"xoxb-{team_id}-{len(self.oauth_codes) + 1}-{code[:6]}"
        self.oauth_codes[code] = {"team_id": team_id, "team_name": team_name, "token": token}
        return token

    def _oauth_access(self, auth: str, p: dict[str, Any]) -> dict[str, Any]:
        """``oauth.v2.access``: the client's credentials (HTTP Basic, or client_id and
        client_secret parameters) and a code; answers as Slack does for a bot install."""
        client_id, client_secret = p.get("client_id"), p.get("client_secret")
        if auth.startswith("Basic "):
            decoded = base64.b64decode(auth.removeprefix("Basic ")).decode()
            client_id, _, client_secret = decoded.partition(":")
        if not client_id or self.oauth_clients.get(client_id) != client_secret:
            return {
                "ok": False,
                "error": "invalid_client_id" if not client_id else "bad_client_secret",
            }
        grant = self.oauth_codes.pop(str(p.get("code") or ""), None)
        if grant is None:
            return {"ok": False, "error": "invalid_code"}
        team_id, token = grant["team_id"], grant["token"]
        bot_user = f"U0BOT{team_id[1:6]}"
        self.teams[token] = {
            "url": f"https://{team_id.lower()}.slack.com/",
            "team": grant["team_name"],
            "user": "baton",
            "team_id": team_id,
            "user_id": bot_user,
            "bot_id": f"B0BOT{team_id[1:6]}",
        }
        return {
            "ok": True,
            "access_token": token,
            "token_type": "bot",
            "scope": "commands,chat:write,chat:write.public",
            "bot_user_id": bot_user,
            "app_id": "A0BATON",
            "team": {"name": grant["team_name"], "id": team_id},
            "enterprise": None,
            "is_enterprise_install": False,
            "authed_user": {"id": "U0INSTALLER"},
        }

    def _next_ts(self) -> str:
        self._ts += 1
        if self.clock is not None:
            self._ts = max(self._ts, int(self.clock() * 1_000_000))
        return f"{self._ts // 1_000_000}.{self._ts % 1_000_000:06d}"

    def _answer(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://standin.slack.com/",
                "team": "Stand-in",
                "user": "baton",
                "team_id": "T0STANDIN",
                "user_id": "U0BATON",
                "bot_id": "B0BATON",
            }
        if method == "chat.postMessage":
            ts = self._next_ts()
            keys = ("text", "blocks", "thread_ts", "metadata")
            message = {"ts": ts, **{k: p[k] for k in keys if k in p}}
            if isinstance(message.get("metadata"), str):  # a form body: JSON text
                message["metadata"] = json.loads(message["metadata"])
            self.messages[(p["channel"], ts)] = message
            return {"ok": True, "channel": p["channel"], "ts": ts, "message": message}
        if method == "chat.update":
            key = (p["channel"], p["ts"])
            if key not in self.messages:
                return {"ok": False, "error": "message_not_found"}
            self.messages[key].update({k: p[k] for k in ("text", "blocks") if k in p})
            return {"ok": True, "channel": p["channel"], "ts": p["ts"], "text": p.get("text", "")}
        if method == "conversations.list":
            return self._conversations(p)
        if method == "conversations.join":
            return self._join(p)
        if method == "conversations.open":
            return self._open(p)
        if method in ("conversations.history", "conversations.replies"):
            return self._history(method, p)
        if method == "views.open":
            return self._views_open(p)
        if method == "views.publish":
            return self._views_publish(p)
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._next_ts()}
        if method == "files.getUploadURLExternal":
            self._file_ids += 1
            file_id = f"F0{self._file_ids:07d}"
            self.upload_urls[file_id] = {"filename": p.get("filename"), "length": p.get("length")}
            return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            return self._complete_upload(p)
        return {"ok": False, "error": "unknown_method"}

    def _views_open(self, p: dict[str, Any]) -> dict[str, Any]:
        """``views.open``: a trigger the stand-in issued, once and in time; a modal view."""
        trigger = str(p.get("trigger_id") or "")
        issued = self.triggers.get(trigger)
        if issued is None:
            return {"ok": False, "error": "invalid_trigger_id"}
        late = time.monotonic() - issued > self.trigger_ttl_s
        if trigger in self.used_triggers or late:
            return {"ok": False, "error": "expired_trigger_id"}
        self.used_triggers.add(trigger)
        view = _view_of(p.get("view"))
        if view is None or view.get("type") != "modal" or view_violations(view):
            return {"ok": False, "error": "invalid_arguments"}
        view = {**view, "id": f"V0{len(self.views) + 1:07d}", "team_id": "T0STANDIN"}
        self.views.append(view)
        return {"ok": True, "view": view}

    def _views_publish(self, p: dict[str, Any]) -> dict[str, Any]:
        """``views.publish``: a ``home`` view, for a user."""
        user = str(p.get("user_id") or "")
        view = _view_of(p.get("view"))
        if not user.startswith(("U", "W")):
            return {"ok": False, "error": "user_not_found"}
        if view is None or view.get("type") != "home" or view_violations(view):
            return {"ok": False, "error": "invalid_arguments"}
        self.homes[user] = view
        return {"ok": True, "view": {**view, "id": f"V0HOME{user}"}}

    def _conversations(self, p: dict[str, Any]) -> dict[str, Any]:
        """``conversations.list``: needs channels:read; a page at a time, by cursor."""
        if "channels:read" not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": "channels:read"}
        rows = [
            {"id": cid, "name": name, "is_channel": True, "is_archived": cid in self.archived}
            for cid, name in sorted(self.channels.items())
            if not (p.get("exclude_archived") in ("true", "1", True) and cid in self.archived)
        ]
        start = int(p.get("cursor") or 0)
        size = min(int(p.get("limit") or 100), self.page_size)
        page = rows[start : start + size]
        more = str(start + size) if start + size < len(rows) else ""
        return {"ok": True, "channels": page, "response_metadata": {"next_cursor": more}}

    def _join(self, p: dict[str, Any]) -> dict[str, Any]:
        """``conversations.join``: public channels only (needs channels:join)."""
        if "channels:join" not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": "channels:join"}
        channel = str(p.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if self.kind(channel) != "public":
            return {"ok": False, "error": "method_not_supported_for_channel_type"}
        if channel in self.archived:
            return {"ok": False, "error": "is_archived"}
        already = self.is_member(channel)
        self.joined.add(channel)
        self.not_member.discard(channel)
        answer: dict[str, Any] = {"ok": True, "channel": {"id": channel, "is_member": True}}
        if already:
            answer["warning"] = "already_in_channel"
        return answer

    def _open(self, p: dict[str, Any]) -> dict[str, Any]:
        """``conversations.open`` of the bot's DM with one person (needs im:write)."""
        if "im:write" not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": "im:write"}
        users = [u for u in str(p.get("users") or "").split(",") if u]
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        if len(users) != 1 or users[0][:1] not in ("U", "W") or not users[0].isalnum():
            return {"ok": False, "error": "user_not_found"}
        dm = "D" + users[0][1:] + "BT"
        self.joined.add(dm)
        return {"ok": True, "channel": {"id": dm}}

    def _history(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        """``conversations.history`` (a channel's messages, not replies, newest first) or
        ``conversations.replies`` (a thread, its parent first): after ``oldest``, before
        ``latest``, ``limit`` a page, by cursor; metadata only with include_all_metadata."""
        if not {"channels:history", "groups:history"} & self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": "channels:history"}
        channel = p.get("channel", "")
        if channel in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        mine = sorted(
            ((ts, m) for (ch, ts), m in self.messages.items() if ch == channel),
            key=lambda kv: float(kv[0]),
        )
        if method == "conversations.history":
            rows = [m for ts, m in mine if m.get("thread_ts") in (None, ts)][::-1]
        else:
            parent = str(p.get("ts", ""))
            rows = [m for ts, m in mine if ts == parent or m.get("thread_ts") == parent]
            if not rows:
                return {"ok": False, "error": "thread_not_found"}
        inclusive = p.get("inclusive") in ("true", "1", True)
        oldest, latest = float(p.get("oldest") or 0), float(p.get("latest") or "inf")
        rows = [
            m
            for m in rows
            if (oldest <= float(m["ts"]) if inclusive else oldest < float(m["ts"]))
            and float(m["ts"]) < latest
        ]
        with_metadata = p.get("include_all_metadata") in ("true", "1", True)
        shown = [
            {"type": "message", "bot_id": "B0BATON", **m}
            if with_metadata
            else {
                "type": "message",
                "bot_id": "B0BATON",
                **{k: v for k, v in m.items() if k != "metadata"},
            }
            for m in rows
        ]
        start = int(p.get("cursor") or 0)
        size = int(p.get("limit") or 100)
        page = shown[start : start + size]
        more = start + size < len(shown)
        return {
            "ok": True,
            "messages": page,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + size) if more else ""},
        }

    def _complete_upload(self, p: dict[str, Any]) -> dict[str, Any]:
        try:
            wanted = json.loads(p.get("files") or "[]")
        except json.JSONDecodeError:
            return {"ok": False, "error": "invalid_arguments"}
        if not wanted or any(f.get("id") not in self.uploads for f in wanted):
            return {"ok": False, "error": "file_not_found"}
        shared = []
        for f in wanted:
            info = {
                "id": f["id"],
                "name": self.upload_urls[f["id"]]["filename"],
                "title": f.get("title"),
                "channel": p.get("channel_id"),
                "thread_ts": p.get("thread_ts"),
                "bytes": self.uploads[f["id"]],
            }
            self.files[f["id"]] = info
            shared.append({k: v for k, v in info.items() if k != "bytes"})
        channel = p.get("channel_id")
        if channel:
            ts = self._next_ts()
            message: dict[str, Any] = {"ts": ts, "text": p.get("initial_comment", "")}
            message["files"] = [f["id"] for f in shared]
            if p.get("thread_ts"):
                message["thread_ts"] = p["thread_ts"]
            self.messages[(channel, ts)] = message
        return {"ok": True, "files": shared}

    async def _upload(self, request: web.Request) -> web.Response:
        """An upload URL: Slack's answers 200 ``OK - <length>`` to the bytes POSTed to it."""
        file_id = request.match_info["file_id"]
        raw = await request.read()
        declared = self.upload_urls.get(file_id, {}).get("length")
        self.calls.append(
            Call(
                "upload",
                {"file_id": file_id, "length": len(raw), "declared_length": declared},
                dict(request.headers),
                request.content_type,
                request.method,
                request.path,
            )
        )
        failure = self._take_failure("upload")
        if failure is not None:
            return web.Response(status=failure.status or 500, text=failure.error)
        if file_id not in self.upload_urls:
            return web.Response(status=404, text="unknown upload URL")
        self.uploads[file_id] = raw
        return web.Response(text=f"OK - {len(raw)}")

    async def _hook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw) if raw else {}
        hook = self._hook_state(request.match_info["name"])
        self.calls.append(
            Call(
                "response_url",
                body,
                dict(request.headers),
                request.content_type,
                request.method,
                request.path,
            )
        )
        failure = self._take_failure("response_url")
        if failure is not None:
            hdrs = {"Retry-After": str(failure.retry_after)} if failure.retry_after else {}
            return web.Response(status=failure.status or 404, text=failure.error, headers=hdrs)
        if self.now() - hook["issued"] > HOOK_TTL_S:
            return web.Response(status=404, text="expired_url")
        if hook["uses"] >= HOOK_USES:
            return web.Response(status=404, text="used_url")
        hook["uses"] += 1
        hook["messages"].append(
            {
                "response_type": body.get("response_type") or "ephemeral",
                "text": body.get("text"),
                "blocks": body.get("blocks"),
                # A slash command's response is never replaced: a new message instead.
                "asked_to_replace": bool(body.get("replace_original")),
            }
        )
        return web.Response(text="ok")

    # -- Socket Mode -------------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": len(self._sockets)})
        async for msg in ws:
            if msg.type == web.WSMsgType.TEXT:
                data = json.loads(msg.data)
                future = self._acks.pop(data.get("envelope_id", ""), None)
                if future is not None and not future.done():
                    future.set_result(data)
        return ws

    async def connected(self, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self._sockets and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert self._sockets, "no Socket Mode connection"

    async def socket_command(self, text: str, **fields: str) -> dict[str, Any]:
        """Send a slash command over Socket Mode; returns the app's ack envelope."""
        form = urllib.parse.parse_qs(slash_body(text, **fields).decode())
        payload = {k: v[-1] for k, v in form.items()}
        return await self._envelope("slash_commands", payload, accepts_response_payload=True)

    async def socket_interactive(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Send an interaction (``block_actions``, ``view_submission``, ``shortcut``) over
        Socket Mode, in an ``interactive`` envelope as Slack does; returns the app's ack
        envelope. Slack reads a response payload only where HTTP would (a modal's
        ``response_action``), so only a ``view_submission`` envelope accepts one."""
        accepts = payload.get("type") in ("view_submission", "block_suggestion")
        return await self._envelope("interactive", payload, accepts_response_payload=accepts)

    async def _envelope(
        self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool
    ) -> dict[str, Any]:
        envelope_id = f"env-{time.monotonic_ns()}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = future
        await self._sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "accepts_response_payload": accepts_response_payload,
                "payload": payload,
            }
        )
        return await asyncio.wait_for(future, 5)


# -- signing like Slack ------------------------------------------------------------------------


def signed_headers(
    secret: str, body: bytes | str, *, timestamp: int | None = None, **extra: str
) -> dict[str, str]:
    """The headers Slack sends with ``body``: timestamp and v0 signature."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    text = body.decode() if isinstance(body, bytes) else body
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=text)
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
        **extra,
    }


def slash_body(text: str, **fields: str) -> bytes:
    """A slash command's form body, as Slack posts it."""
    form = {
        "token": "deprecated-verification-token",
        "team_id": "T0STANDIN",
        "team_domain": "standin",
        "channel_id": "C0PROBES",
        "channel_name": "probes",
        "user_id": "U0ALICE",
        "user_name": "alice",
        "command": "/baton",
        "text": text,
        "api_app_id": "A0BATON",
        "is_enterprise_install": "false",
        "response_url": "http://127.0.0.1:9/hooks/unused",
        "trigger_id": f"{time.monotonic_ns()}.trigger",
    }
    form.update(fields)
    return urllib.parse.urlencode(form).encode()


# -- the spec check ------------------------------------------------------------------------------


@cache
def load_spec() -> dict[str, Any]:
    return load_json(SPEC_PATH.name)


#: Slack's JSON bodies carry ``blocks`` and ``attachments`` as arrays and ``view`` as an
#: object; in form bodies (what the spec describes) they are JSON text.
_JSON_ARRAYS = {"blocks", "attachments", "view"}


def spec_violations(call: Call) -> list[str]:
    """What in ``call`` the Slack Web API spec does not allow; empty when it conforms.

    The spec is from 2021 and describes ``token`` as a header field: an
    ``Authorization: Bearer xox…`` header satisfies it. It lists one HTTP verb for some
    methods (``auth.test``: GET), though every Web API method accepts POST.
    """
    if call.method == "response_url":
        return response_url_violations(call)
    if call.method == "upload":
        return upload_violations(call)
    if call.method in NEWER_THAN_SPEC:
        # Not in the 2021 spec: checked against what Slack's method docs give instead.
        return _newer_method_violations(call)
    spec = load_spec()
    path = spec["paths"].get(f"/{call.method}")
    if path is None:
        return [f"{call.method}: not a method in the spec"]
    op = path.get(call.http_verb.lower()) or next(iter(path.values()))
    problems: list[str] = []
    consumes = op.get("consumes") or ["application/x-www-form-urlencoded"]
    if call.http_verb == "POST" and call.content_type not in consumes:
        problems.append(f"{call.method}: content type {call.content_type} not in {consumes}")
    declared = {p["name"]: p for p in op.get("parameters", [])}
    auth = call.headers.get("Authorization", "")
    needs_token = "token" in declared and declared["token"].get("required")
    if needs_token and not auth.startswith("Bearer xox") and "token" not in call.params:
        problems.append(f"{call.method}: no token (Authorization: Bearer header)")
    for name, p in declared.items():
        if name != "token" and p.get("required") and name not in call.params:
            problems.append(f"{call.method}: required parameter {name!r} missing")
    for name, v in call.params.items():
        p = declared.get(name)
        newer = NEWER_PARAMS.get(call.method, {}).get(name)
        if p is None and newer == "metadata":
            problems.extend(f"{call.method}: {x}" for x in metadata_violations(v))
            continue
        if p is None and newer is not None:
            p = {"type": newer}
        if p is None:
            problems.append(f"{call.method}: parameter {name!r} is not in the spec")
            continue
        problem = _type_problem(p.get("type", "string"), v, name, call.content_type)
        if problem:
            problems.append(f"{call.method}: {name} {problem}")
    for b in call.params.get("blocks") or []:
        problems.extend(f"{call.method}: {x}" for x in block_violations(b))
    if "view" in call.params:
        view = _view_of(call.params["view"])
        if view is None:
            problems.append(f"{call.method}: view is not a JSON object")
        else:
            problems.extend(f"{call.method}: {x}" for x in view_violations(view))
    if len(call.params.get("blocks") or []) > 50:
        problems.append(f"{call.method}: more than 50 blocks")
    return problems


#: Parameters newer than the 2021 spec, as Slack's method docs give them: message metadata
#: (2022: ``metadata`` on chat.postMessage, an object of ``event_type`` and
#: ``event_payload``) and reading it back (``include_all_metadata``, a boolean).
NEWER_PARAMS: dict[str, dict[str, str]] = {
    "chat.postMessage": {"metadata": "metadata"},
    "conversations.history": {"include_all_metadata": "boolean"},
    "conversations.replies": {"include_all_metadata": "boolean"},
}


def metadata_violations(value: Any) -> list[str]:
    """Message metadata: a JSON object (JSON text in a form body) with an alphanumeric
    ``event_type`` (underscores allowed) and an object ``event_payload``, nothing else."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return ["metadata is not JSON"]
    if not isinstance(value, dict):
        return ["metadata must be an object"]
    out = [f"metadata has unexpected key {k!r}" for k in value if k not in _METADATA_KEYS]
    kind = value.get("event_type")
    if not isinstance(kind, str) or not kind.replace("_", "").isalnum():
        out.append(f"metadata event_type {kind!r} is not an alphanumeric string")
    if not isinstance(value.get("event_payload"), dict):
        out.append("metadata event_payload must be an object")
    return out


_METADATA_KEYS = {"event_type", "event_payload"}


@dataclass(frozen=True)
class NewerMethod:
    """A method the 2021 spec predates, as Slack's method docs describe it."""

    token: str  # the token kind it takes: "xapp-" or "xoxb-"
    required: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()
    integers: frozenset[str] = frozenset()


#: Methods newer than the 2021 spec: the spec check skips them on purpose (there is nothing
#: in it to check them against) and checks the token and parameters from Slack's docs.
#: apps.connections.open (Socket Mode, called by slack_sdk's client): an xapp- token only.
#: files.getUploadURLExternal and files.completeUploadExternal (2024; what files_upload_v2
#: calls, files.upload being retired): a bot token with files:write.
NEWER_THAN_SPEC: dict[str, NewerMethod] = {
    "apps.connections.open": NewerMethod(token="xapp-"),
    "files.getUploadURLExternal": NewerMethod(
        token="xoxb-",
        required=frozenset({"filename", "length"}),
        optional=frozenset({"alt_txt", "snippet_type"}),
        integers=frozenset({"length"}),
    ),
    "files.completeUploadExternal": NewerMethod(
        token="xoxb-",
        required=frozenset({"files"}),
        optional=frozenset({"channel_id", "channels", "initial_comment", "thread_ts"}),
    ),
}


def _newer_method_violations(call: Call) -> list[str]:
    spec = NEWER_THAN_SPEC[call.method]
    problems = []
    if not call.headers.get("Authorization", "").startswith(f"Bearer {spec.token}"):
        problems.append(f"{call.method}: needs a {spec.token}… token (Authorization: Bearer)")
    problems.extend(
        f"{call.method}: required parameter {k!r} missing"
        for k in sorted(spec.required)
        if k not in call.params
    )
    allowed = spec.required | spec.optional
    problems.extend(f"{call.method}: unexpected {k!r}" for k in call.params if k not in allowed)
    for name in spec.integers & set(call.params):
        if not str(call.params[name]).isdigit():
            problems.append(f"{call.method}: {name} must be a whole number")
    if call.method == "files.completeUploadExternal":
        problems.extend(_complete_upload_violations(call))
    return problems


def _complete_upload_violations(call: Call) -> list[str]:
    try:
        files = json.loads(call.params.get("files") or "")
    except json.JSONDecodeError:
        return ["files.completeUploadExternal: files must be a JSON array"]
    if not isinstance(files, list) or not all(isinstance(f, dict) and "id" in f for f in files):
        return ["files.completeUploadExternal: files must be a JSON array of {id, title}"]
    if "thread_ts" in call.params and "channel_id" not in call.params:
        return ["files.completeUploadExternal: thread_ts needs channel_id"]
    return []


def upload_violations(call: Call) -> list[str]:
    """A POST of the file's bytes to the upload URL: no Slack token (the URL is the
    capability), and exactly the length declared to files.getUploadURLExternal."""
    out = []
    if call.http_verb != "POST":
        out.append(f"upload: {call.http_verb}, not POST")
    if "Authorization" in call.headers:
        out.append("upload: sends an Authorization header to the upload URL")
    if call.params["length"] == 0:
        out.append("upload: no bytes")
    declared = call.params.get("declared_length")
    if declared is not None and str(declared) != str(call.params["length"]):
        out.append(f"upload: {call.params['length']} bytes sent, {declared} declared")
    return out


def _type_problem(kind: str, v: Any, name: str, ctype: str) -> str | None:
    json_body = ctype == "application/json"
    if kind == "string":
        if isinstance(v, str):
            return None
        if json_body and name in _JSON_ARRAYS and isinstance(v, list | dict):
            return None
        return f"must be a string, not {type(v).__name__}"
    if kind == "boolean":
        ok = isinstance(v, bool) if json_body else v in ("true", "false", "1", "0")
        return None if ok else f"must be a boolean, not {v!r}"
    if kind in ("number", "integer"):
        try:
            float(v)
        except (TypeError, ValueError):
            return f"must be a {kind}, not {v!r}"
    return None


def block_violations(block: dict[str, Any]) -> list[str]:
    """Block Kit limits the OpenAPI spec does not state (section text 3,000 chars ...)."""
    out = []
    kind = block.get("type")
    if kind == "section":
        text = block.get("text", {}).get("text", "")
        if len(text) > 3000:
            out.append(f"section text {len(text)} chars > 3000")
    if kind == "context":
        if len(block.get("elements", [])) > 10:
            out.append("context has more than 10 elements")
        for e in block.get("elements", []):
            if len(e.get("text", "")) > 3000:
                out.append("context text > 3000 chars")
    if kind == "header" and len(block.get("text", {}).get("text", "")) > 150:
        out.append("header text > 150 chars")
    if len(str(block.get("block_id", ""))) > 255:
        out.append("block_id > 255 chars")
    if kind == "actions":
        elements = block.get("elements") or []
        if not 0 < len(elements) <= 25:
            out.append(f"actions has {len(elements)} elements (1 to 25)")
        for e in elements:
            out.extend(_element_violations(e))
    if kind == "section" and "accessory" in block:
        out.extend(_element_violations(block["accessory"]))
    if kind == "input":
        if not isinstance(block.get("label"), dict) or "element" not in block:
            out.append("input needs a label and an element")
        elif len(block["label"].get("text", "")) > 2000:
            out.append("input label > 2000 chars")
        else:
            out.extend(_element_violations(block["element"]))
    return out


def response_url_violations(call: Call) -> list[str]:
    """A response URL takes JSON: text and/or blocks, response_type, replace_original."""
    p = call.params
    out = []
    if call.content_type != "application/json":
        out.append(f"response_url: content type {call.content_type}")
    if not isinstance(p.get("text"), str) and not p.get("blocks"):
        out.append("response_url: neither text nor blocks")
    if p.get("response_type") not in (None, "ephemeral", "in_channel"):
        out.append(f"response_url: response_type {p.get('response_type')!r}")
    allowed = {
        "text",
        "blocks",
        "response_type",
        "replace_original",
        "delete_original",
        "thread_ts",
    }
    out.extend(f"response_url: unexpected field {k!r}" for k in p if k not in allowed)
    for b in p.get("blocks") or []:
        out.extend(f"response_url: {x}" for x in block_violations(b))
    return out


def _view_of(value: Any) -> dict[str, Any] | None:
    """A ``view`` parameter: an object in a JSON body, JSON text in a form."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    return value if isinstance(value, dict) else None


_VIEW_KEYS = {
    "type",
    "title",
    "blocks",
    "close",
    "submit",
    "private_metadata",
    "callback_id",
    "clear_on_close",
    "notify_on_close",
    "external_id",
    "submit_disabled",
}


def view_violations(view: dict[str, Any]) -> list[str]:
    """A modal or Home tab view as Slack's view reference describes it: its type, at most
    100 blocks, a modal's title (and submit/close) plain text of at most 24 characters, a
    submit button whenever it has input blocks, ``private_metadata`` at most 3,000 and
    ``callback_id`` at most 255 characters; every block checked as in messages."""
    out = [f"view: unexpected key {k!r}" for k in view if k not in _VIEW_KEYS]
    kind = view.get("type")
    if kind not in ("modal", "home"):
        out.append(f"view: type {kind!r}")
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        return [*out, "view: no blocks"]
    if len(blocks) > 100:
        out.append(f"view: {len(blocks)} blocks > 100")
    if kind == "modal":
        for key in ("title", "submit", "close"):
            text = view.get(key)
            if text is None and key != "title":
                continue
            if not isinstance(text, dict) or text.get("type") != "plain_text":
                out.append(f"view: {key} must be plain_text")
            elif not 0 < len(text.get("text", "")) <= 24:
                out.append(f"view: {key} text must be 1 to 24 characters")
        if any(b.get("type") == "input" for b in blocks) and "submit" not in view:
            out.append("view: input blocks need a submit button")
    if len(str(view.get("private_metadata", ""))) > 3000:
        out.append("view: private_metadata > 3000 chars")
    if len(str(view.get("callback_id", ""))) > 255:
        out.append("view: callback_id > 255 chars")
    ids = [b["block_id"] for b in blocks if "block_id" in b]
    if len(ids) != len(set(ids)):
        out.append("view: block ids repeat")
    for b in blocks:
        out.extend(f"view: {x}" for x in block_violations(b))
    return out


def _element_violations(e: dict[str, Any]) -> list[str]:
    """Interactive elements: a button's text (75) and value (2,000), action ids (255),
    a static select's options (100, each text 75 and value 150)."""
    out = []
    kind = e.get("type")
    if len(str(e.get("action_id", ""))) > 255:
        out.append(f"{kind}: action_id > 255 chars")
    if kind == "button":
        if len(e.get("text", {}).get("text", "")) > 75:
            out.append("button text > 75 chars")
        if len(str(e.get("value", ""))) > 2000:
            out.append("button value > 2000 chars")
    if kind == "static_select":
        options = e.get("options") or []
        if not 0 < len(options) <= 100:
            out.append(f"static_select has {len(options)} options (1 to 100)")
        for o in options:
            if len(o.get("text", {}).get("text", "")) > 75:
                out.append("option text > 75 chars")
            if len(str(o.get("value", ""))) > 150:
                out.append("option value > 150 chars")
    if kind == "plain_text_input" and int(e.get("max_length", 0)) > 3000:
        out.append("plain_text_input max_length > 3000")
    return out
