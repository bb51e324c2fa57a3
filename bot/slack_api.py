"""The one wrapper every Slack call goes through.

It masks secrets in what it sends, honours ``Retry-After`` on 429 (up to a cap), retries a
dropped connection, and turns every failure into one typed error, ``SlackCallError``,
sorted into *theirs* (Slack or the workspace said no: ``channel_not_found``,
``ratelimited``, ``invalid_auth`` …) and *ours* (we sent something Slack cannot take:
``invalid_blocks``, ``msg_too_long`` …). Every post, update and file share to a channel
waits for that channel's turn (``ChannelPacer``, about one a second), and a 429 holds the
channel for its ``Retry-After``.

    api = SlackApi(client=AsyncWebClient(token=..., base_url=...))
    ts = await api.post("C123", messages.started(info))
    await api.update("C123", ts, messages.final(info, result, wf))
    await api.respond(response_url, replies.problem("unknown workflow", "/baton"))
    await api.upload("C123", png, filename="health.png", title="Health", thread_ts=ts)
    dm = await api.open_dm("U123")                       # the bot's DM with a person
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackObjectFormationError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from baton.probes.errors import BatonError

from .blocks.run import Message
from .redact import Redactor
from .throttle import ChannelPacer

log = logging.getLogger("bot.slack")

#: Refusals a person in the workspace can fix: invite the bot, unarchive the channel, give the
#: app a scope or a new token.
NEEDS_A_PERSON = frozenset(
    {
        "not_in_channel",
        "is_archived",
        "channel_is_archived",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "team_access_not_granted",
        "ekm_access_denied",
    }
)
#: Errors that are Slack's or the workspace's doing, not a bug in Baton.
THEIRS = NEEDS_A_PERSON | frozenset(
    {
        "ratelimited",
        "rate_limited",
        "channel_not_found",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "fatal_error",
        "internal_error",
        "service_unavailable",
        "request_timeout",
        "connection_error",
        "expired_url",
        "used_url",
        "no_service",
        "upload_failed",
        "file_uploads_disabled",
        "file_uploads_except_images_disabled",
        "storage_limit_reached",
        "method_not_supported_for_channel_type",
        "user_not_found",
        "user_disabled",
        "cannot_dm_bot",
        "untrusted_response_url",
    }
)
#: Where Slack's response URLs live (Slack, and GovSlack); ``slack.api_url``'s host too.
RESPONSE_URL_HOSTS = frozenset({"hooks.slack.com", "hooks.slack-gov.com"})
_MAX_URL = 2000


_Origin = tuple[str, str, int | None, bool]


def trusted_response_url(value: object, *, api_url: str | None = None) -> str | None:
    """``value`` if it is a response URL Slack could have issued, else None (logged).

    Trusted: ``https://hooks.slack.com/…``, ``https://hooks.slack-gov.com/…``, or the scheme,
    host and port of ``api_url`` (``slack.api_url``: a proxy, or a local stand-in). Every
    payload field may be forged, and Baton POSTs to this URL: anything else (a cloud's
    metadata address, an internal host) is never fetched.

        >>> trusted_response_url("https://hooks.slack.com/commands/T1/2/abc")
        'https://hooks.slack.com/commands/T1/2/abc'
        >>> trusted_response_url("http://169.254.169.254/latest/meta-data/") is None
        True
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > _MAX_URL or any(c.isspace() for c in value):
        log.warning("ignored a response_url that is not a URL Slack issues")
        return None
    if _origin(value) in _trusted_origins(api_url):
        return value
    log.warning("ignored a response_url on an untrusted host: %r", _origin(value)[:3])
    return None


def _origin(url: str) -> _Origin:
    """(scheme, host, port, has user info); ``("", "", None, False)`` when unreadable."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return ("", "", None, False)
    scheme = parts.scheme.lower()
    if port is None:
        port = {"https": 443, "http": 80}.get(scheme)
    return (scheme, (parts.hostname or "").lower(), port, "@" in parts.netloc)


def _trusted_origins(api_url: str | None) -> set[_Origin]:
    trusted: set[_Origin] = {("https", host, 443, False) for host in RESPONSE_URL_HOSTS}
    if api_url:
        origin = _origin(api_url)
        if origin[0] in ("https", "http") and origin[1] and not origin[3]:
            trusted.add(origin)
    return trusted


#: Errors after which the command's ``response_url`` is the only way to answer.
CHANNEL_UNREACHABLE = frozenset({"not_in_channel", "channel_not_found"})


class SlackCallError(BatonError):
    """A Slack call failed. ``side`` is ``"theirs"`` or ``"ours"``; ``retry_after``: the
    seconds a 429's ``Retry-After`` asked for."""

    def __init__(
        self,
        method: str,
        error: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.method = method
        self.error = error
        self.status = status
        self.retry_after = retry_after
        self.side = "theirs" if error in THEIRS else "ours"
        super().__init__(f"{method}: {error} ({self.side})")

    @property
    def channel_unreachable(self) -> bool:
        return self.error in CHANNEL_UNREACHABLE


Sleep = Callable[[float], Awaitable[Any]]


class SlackApi:
    """Calls the Slack Web API and response URLs; see the module docstring."""

    def __init__(
        self,
        *,
        client: AsyncWebClient,
        redactor: Redactor | None = None,
        sleep: Sleep = asyncio.sleep,
        max_attempts: int = 4,
        max_wait_s: float = 30.0,
        webhook_timeout_s: int = 10,
        pacer: ChannelPacer | None = None,
    ) -> None:
        self.client = client
        self.redactor = redactor or Redactor()
        self.sleep = sleep
        self.max_attempts = max_attempts
        self.max_wait_s = max_wait_s
        self.webhook_timeout_s = webhook_timeout_s
        #: Paces posts, updates and file shares per channel; None: not paced here (the
        #: caller paces, as alerting does).
        self.pacer = pacer

    @property
    def api_url(self) -> str:
        """The Web API's base URL (``slack.api_url``); its host may issue response URLs."""
        return str(self.client.base_url)

    def response_url(self, value: object) -> str | None:
        """``value`` if it is a response URL Slack could have issued (see
        ``trusted_response_url``), else None: a forged one is ignored, never fetched."""
        return trusted_response_url(value, api_url=self.api_url)

    async def call(
        self, method: str, params: Mapping[str, Any], *, paced: str | None = None
    ) -> dict[str, Any]:
        """POST ``method`` with a JSON body; the answer's data, or ``SlackCallError``.
        ``paced``: the channel whose turn each attempt waits for."""
        body = self.redactor.scrub(dict(params))
        return await self._retrying(
            method, lambda: self.client.api_call(method, json=body), paced=paced
        )

    async def read(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """GET a read method (``conversations.history`` …) with query parameters."""
        query = self.redactor.scrub({k: v for k, v in params.items() if v is not None})
        return await self._retrying(
            method, lambda: self.client.api_call(method, http_verb="GET", params=query)
        )

    async def upload(
        self,
        channel: str,
        content: bytes,
        *,
        filename: str,
        title: str,
        thread_ts: str | None = None,
        alt_text: str | None = None,
    ) -> str:
        """Share a file in a channel (or a thread) with ``files_upload_v2``; its file id.

        slack_sdk does the three steps: files.getUploadURLExternal, a POST of the bytes to
        the URL it returns, files.completeUploadExternal. Needs the ``files:write`` scope.
        """

        async def upload() -> Any:
            try:
                return await self.client.files_upload_v2(
                    channel=channel,
                    file=content,
                    filename=filename,
                    title=self.redactor.text(title),
                    alt_txt=self.redactor.text(alt_text) if alt_text else None,
                    thread_ts=thread_ts,
                )
            except SlackRequestError as exc:  # the POST to the upload URL failed
                raise SlackCallError("files.upload", "upload_failed") from exc

        data = await self._retrying("files.upload", upload, paced=channel)
        file = data.get("file") or {}
        return str(file.get("id", "")) if isinstance(file, dict) else ""

    async def _retrying(
        self, method: str, send: Callable[[], Awaitable[Any]], *, paced: str | None = None
    ) -> dict[str, Any]:
        """``send()`` until it answers, honouring Retry-After; errors as ``SlackCallError``.
        ``paced``: a channel; each attempt waits for its turn there, and a 429 holds it."""
        for attempt in range(1, self.max_attempts + 1):
            last = attempt == self.max_attempts
            if paced is not None and self.pacer is not None:
                await self.pacer.wait(paced)
            try:
                response = await send()
                data: dict[str, Any] = response.data if isinstance(response.data, dict) else {}
                return data
            except SlackApiError as exc:
                status = exc.response.status_code
                error = str(exc.response.get("error") or f"http_{status}")
                wait = _retry_after(exc.response.headers)
                limited = status == 429 or error == "ratelimited"
                if limited and paced is not None and self.pacer is not None:
                    # Everything else bound for this channel waits too, not only this call.
                    self.pacer.hold(paced, wait if wait is not None else 2.0**attempt)
                if limited and not last:
                    await self._wait(method, wait, attempt)
                    continue
                raise SlackCallError(method, error, status=status, retry_after=wait) from exc
            except (aiohttp.ClientError, TimeoutError) as exc:
                if not last:
                    await self.sleep(min(2.0 ** (attempt - 1), self.max_wait_s))
                    continue
                raise SlackCallError(method, "connection_error") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def post(
        self,
        channel: str,
        message: Message,
        *,
        thread_ts: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> str:
        """chat.postMessage; returns the new message's ``ts``. ``metadata``: Slack's message
        metadata (``event_type``, ``event_payload``), unseen by people."""
        params: dict[str, Any] = {"channel": channel, **_payload("chat.postMessage", message)}
        if thread_ts is not None:
            params["thread_ts"] = thread_ts
        if metadata is not None:
            params["metadata"] = dict(metadata)
        data = await self.call("chat.postMessage", params, paced=channel)
        return str(data.get("ts", ""))

    async def ephemeral(self, channel: str, user: str, message: Message) -> None:
        """chat.postEphemeral: a message only ``user`` sees, in ``channel``."""
        payload = _payload("chat.postEphemeral", message)
        await self.call("chat.postEphemeral", {"channel": channel, "user": user, **payload})

    async def open_view(self, trigger_id: str, view: Mapping[str, Any]) -> dict[str, Any]:
        """views.open: a modal, for the person whose interaction gave ``trigger_id``."""
        return await self.call("views.open", {"trigger_id": trigger_id, "view": dict(view)})

    async def publish_home(self, user: str, view: Mapping[str, Any]) -> None:
        """views.publish: ``user``'s App Home tab."""
        await self.call("views.publish", {"user_id": user, "view": dict(view)})

    async def update(self, channel: str, ts: str, message: Message) -> None:
        """chat.update of a message Baton posted."""
        payload = _payload("chat.update", message)
        await self.call("chat.update", {"channel": channel, "ts": ts, **payload}, paced=channel)

    async def open_dm(self, user: str) -> str:
        """The ID of the bot's direct-message conversation with ``user``
        (``conversations.open``; needs the ``im:write`` scope)."""
        data = await self.call("conversations.open", {"users": user})
        channel = data.get("channel")
        cid = channel.get("id") if isinstance(channel, dict) else None
        if not isinstance(cid, str) or not cid:
            raise SlackCallError("conversations.open", "no_channel_in_answer")
        return cid

    async def join(self, channel: str) -> None:
        """Join a public channel (``conversations.join``; needs ``channels:join``). Already a
        member: fine. Private channels and DMs cannot be joined: a person invites the app."""
        await self.call("conversations.join", {"channel": channel})

    async def respond(
        self,
        response_url: str,
        message: Message,
        *,
        in_channel: bool = False,
        replace_original: bool | None = None,
    ) -> None:
        """Answer through a command's ``response_url`` (ephemeral unless ``in_channel``).
        ``replace_original``: sent when given. A button's (or a message shortcut's) URL
        replaces the message pressed unless told ``False``, so every answer Baton sends
        says ``False``: an answer to one person never takes the place of everyone's message."""
        body: dict[str, Any] = {
            **_payload("response_url", message),
            "response_type": "in_channel" if in_channel else "ephemeral",
        }
        if replace_original is not None:
            body["replace_original"] = replace_original
        if self.response_url(response_url) is None:
            raise SlackCallError("response_url", "untrusted_response_url")
        body = self.redactor.scrub(body)
        for attempt in range(1, self.max_attempts + 1):
            last = attempt == self.max_attempts
            hook = AsyncWebhookClient(
                response_url,
                timeout=self.webhook_timeout_s,
                proxy=self.client.proxy,
                retry_handlers=[],  # one retry policy: this loop's
            )
            try:
                res = await hook.send_dict(body)
            except (aiohttp.ClientError, TimeoutError) as exc:
                if not last:
                    await self.sleep(min(2.0 ** (attempt - 1), self.max_wait_s))
                    continue
                raise SlackCallError("response_url", "connection_error") from exc
            if res.status_code == 200:
                return
            error = (res.body or f"http_{res.status_code}").strip()[:100]
            if res.status_code == 429 and not last:
                await self._wait("response_url", _retry_after(res.headers), attempt)
                continue
            raise SlackCallError("response_url", error, status=res.status_code)

    async def _wait(self, method: str, retry_after: float | None, attempt: int) -> None:
        wait = min(retry_after if retry_after is not None else 2.0**attempt, self.max_wait_s)
        log.warning("%s rate limited by Slack; retrying in %.1f s", method, wait)
        await self.sleep(wait)


def _payload(method: str, message: Message) -> dict[str, Any]:
    """The message as Slack takes it; blocks slack_sdk refuses to build are our error."""
    try:
        return message.payload()
    except SlackObjectFormationError as exc:
        raise SlackCallError(method, "invalid_blocks") from exc


def _retry_after(headers: Mapping[str, Any] | None) -> float | None:
    for key, raw in (headers or {}).items():
        if key.lower() == "retry-after":
            value = raw[0] if isinstance(raw, list) and raw else raw
            try:
                return max(float(value), 0.0)
            except (TypeError, ValueError):
                return None
    return None


__all__ = [
    "CHANNEL_UNREACHABLE",
    "RESPONSE_URL_HOSTS",
    "THEIRS",
    "SlackApi",
    "SlackCallError",
    "trusted_response_url",
]
