"""One HTTP helper for every connector: rate limit, retries, 429/Retry-After, error translation.

Connectors never create an ``httpx.AsyncClient``; the CLI and the bot build one and pass it
in, and tests pass one with ``httpx.MockTransport``. Retry policy is injected too, so tests
use ``wait_none()``.

A 404 is only "not found" when the tool said so about an object. On a route the tool always
serves (a list, a search, a batch read, an object's own URL) a connector passes
``route_must_exist=True``: a 404 there raises ``BadUrl`` naming the URL, unless
``object_missing`` recognises the tool's own "no such object" answer (HubSpot's
``{"category": "OBJECT_NOT_FOUND"}``, Stripe's ``resource_missing``). So a wrong
``base_url`` is reported as a configuration problem, never as a record that did not arrive or
a cleanup that found nothing to remove.
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_random,
)
from tenacity.wait import wait_base

from ..errors import ApiError, AuthError, BadUrl, NotListening, RateLimited, Unreachable
from . import _timing

#: Hosts on this machine: a refused connection there is most likely the sandbox not running.
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")

#: True inside a cleanup batch: its requests wait behind every observation at the limiter.
CLEANING: contextvars.ContextVar[bool] = contextvars.ContextVar("baton_cleaning", default=False)

#: Retry-After values above this are not waited for inside one request: the run's
#: polling picks it up later instead of blocking.
MAX_RETRY_AFTER_S = 60.0


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def parse_rate_limit_reset(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from an ``X-RateLimit-Reset`` header, which SendGrid sends on 429
    instead of Retry-After, as a Unix time (https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/rate-limits).
    Small values are taken as seconds, as some other APIs send them."""
    if not value:
        return None
    try:
        reset = float(value.strip())
    except ValueError:
        return None
    if reset > 1_000_000_000:  # a Unix time, not a delay
        reset -= time.time() if now is None else now
    return max(0.0, reset)


class RateLimiter:
    """A token bucket: at most ``rate`` requests per second, bursts of ``burst``."""

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self.tokens = self.capacity
        self.clock = clock
        self.updated = clock()
        self._lock = asyncio.Lock()
        #: Requests of normal priority waiting for (or holding) the lock.
        self._urgent = 0

    def _refill(self) -> float:
        """Bring the bucket up to now; returns how many requests it holds."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return self.tokens

    def ready_in(self) -> float:
        """Seconds until a request may go (0: one may go now); takes nothing."""
        tokens = self._refill()
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    async def acquire(self, *, low: bool = False) -> None:
        """Take one request's worth; waits for it. ``low`` (cleanups) yields to every
        request of normal priority waiting (observations), so a burst's cleanups never
        hold back the looks of runs still in flight."""
        if not low:
            self._urgent += 1
        try:
            while True:
                while low and self._urgent:
                    await asyncio.sleep(1 / self.rate)
                if await self._take(low):
                    return
        finally:
            if not low:
                self._urgent -= 1

    async def _take(self, low: bool) -> bool:
        """One token, in turn (FIFO); False when a ``low`` request must yield first."""
        async with self._lock:
            while True:
                if low and self._urgent:
                    return False
                if self._refill() >= 1:
                    self.tokens -= 1
                    return True
                await asyncio.sleep((1 - self.tokens) / self.rate)


class _wait_retry_after(wait_base):
    """Wait what a 429 asked for, else fall back to exponential backoff with jitter."""

    def __init__(self, fallback: wait_base) -> None:
        self.fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return min(exc.retry_after, MAX_RETRY_AFTER_S)
        return float(self.fallback(retry_state))


@dataclass(frozen=True)
class RetryPolicy:
    """How one request is retried on 429, 5xx and transport errors."""

    attempts: int = 4
    max_delay_s: float = 30.0
    # 0.5 s, 1 s, 2 s ... up to 8 s, plus up to 1 s of jitter. (Not wait_exponential_jitter:
    # its ``initial`` is deprecated in tenacity 9 and its replacement is missing from 8.x.)
    wait: wait_base = field(
        default_factory=lambda: wait_exponential(multiplier=0.5, max=8) + wait_random(0, 1)
    )
    #: How to wait between attempts; tests pass a recorder to check Retry-After is honoured.
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def retrying(self) -> AsyncRetrying:
        return AsyncRetrying(
            retry=retry_if_exception_type((RateLimited, Unreachable))
            & retry_if_not_exception_type(NotListening),
            stop=stop_after_attempt(self.attempts) | stop_after_delay(self.max_delay_s),
            wait=_wait_retry_after(self.wait),
            sleep=self.sleep,
            reraise=True,
        )


class ToolHttp:
    """Requests to one tool: base URL, auth headers, rate limit, retries, typed errors.

    >>> http = ToolHttp(client, tool="stripe", base_url="https://api.stripe.com",
    ...                 headers={"Authorization": "Bearer sk_test_..."})
    >>> resp = await http.request("GET", "/v1/customers", params={"email": "a@example.com"})
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        tool: str,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        rate_limit: float | None = None,
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        self.client = client
        self.tool = tool
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers or {})
        # What must never reach an error message (and so the store, a log or Slack) even
        # when a tool echoes it back: every header value and its token part.
        carried = {p for v in self.headers.values() for p in (v, v.rpartition(" ")[2])}
        carried |= set(secrets) | set(url_secrets(base_url))
        self._secrets = sorted({p for p in carried if len(p) >= 6}, key=len, reverse=True)
        self.limiter = RateLimiter(rate_limit) if rate_limit else None
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()

    def _mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return _SECRET_IN_URL.sub(lambda m: (m.group(1) or m.group(2)) + "***", text)

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + "/" + path.lstrip("/")

    def bad_url(self, method: str, url: str) -> BadUrl:
        """The error for a 404 on a route that always exists: the configured URL is wrong."""
        url = self._mask(url)
        return BadUrl(
            f"{self.tool}: {method} {url} answered 404: is tools.{self.tool}.base_url right?",
            tool=self.tool,
            url=url,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        ok: tuple[int, ...] = (),
        route_must_exist: bool = False,
        object_missing: Callable[[httpx.Response], bool] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request with retries. 2xx and the statuses in ``ok`` are returned;
        everything else raises a ``ConnectorError`` subclass.

        ``route_must_exist``: the tool always serves this route, so a 404 means the base URL
        is wrong and raises ``BadUrl`` (whatever ``ok`` says), except a 404 that
        ``object_missing`` recognises as the tool's own "no such object" answer, which is
        returned for the caller to read as "not found"."""
        async for attempt in self.retry.retrying():
            with attempt:
                return await self._once(
                    method,
                    path,
                    ok=ok,
                    route_must_exist=route_must_exist,
                    object_missing=object_missing,
                    **kwargs,
                )
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def _once(
        self,
        method: str,
        path: str,
        *,
        ok: tuple[int, ...],
        route_must_exist: bool = False,
        object_missing: Callable[[httpx.Response], bool] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        if self.limiter is not None:
            queued_from = time.monotonic()
            await self.limiter.acquire(low=CLEANING.get())
            _timing.note_queued(time.monotonic() - queued_from)
        _timing.note_sent()
        headers = {**self.headers, **kwargs.pop("headers", {})}
        url = self.url(path)
        try:
            resp = await self.client.request(
                method, url, headers=headers, timeout=self.timeout_s, **kwargs
            )
        except httpx.TimeoutException as exc:
            raise Unreachable(
                self._mask(f"{self.tool}: timed out after {self.timeout_s:g}s ({method} {url})"),
                tool=self.tool,
            ) from exc
        except httpx.ConnectError as exc:
            host = httpx.URL(url).host if "://" in url else ""
            hint = " (is `baton sandbox` running?)" if host in _LOCAL_HOSTS else ""
            raise NotListening(
                self._mask(f"{self.tool}: nothing is listening at {method} {url}{hint}"),
                tool=self.tool,
            ) from exc
        except httpx.TransportError as exc:
            raise Unreachable(
                self._mask(
                    f"{self.tool}: cannot connect ({type(exc).__name__}: {exc}) ({method} {url})"
                ),
                tool=self.tool,
            ) from exc
        _timing.note_answered()
        status = resp.status_code
        if status == 404 and route_must_exist:
            if object_missing is not None and object_missing(resp):
                return resp
            raise self.bad_url(method, url)
        if 200 <= status < 300 or status in ok:
            return resp
        detail = self._mask(_short_body(resp))
        if status == 429:
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            if retry_after is None:
                retry_after = parse_rate_limit_reset(resp.headers.get("X-RateLimit-Reset"))
            raise RateLimited(
                f"{self.tool}: rate limited (429){detail}", tool=self.tool, retry_after=retry_after
            )
        if status in (401, 403):
            raise AuthError(
                f"{self.tool}: credentials refused ({status}){detail}",
                tool=self.tool,
                status_code=status,
            )
        if status >= 500:
            raise Unreachable(
                f"{self.tool}: server error {status}{detail}", tool=self.tool, status_code=status
            )
        raise ApiError(
            self._mask(f"{self.tool}: {method} {path} answered {status}{detail}"),
            tool=self.tool,
            status_code=status,
        )


#: Query parameters and userinfo that carry secrets in URLs (``?api_key=…``, ``user:pw@``).
_SECRET_NAMES = (
    r"(?:api[_-]?key|apikey|key|token|access[_-]?token|auth|secret|client[_-]?secret|"
    r"password|passwd|pwd|pass|signature|sig|session|code|credential)"
)
_SECRET_IN_URL = re.compile(
    rf"((?i:[?&;]{_SECRET_NAMES})=)[^&#\s)\"']+|(://[^/@\s:]+:)[^/@\s]+(?=@)"
)


def url_secrets(url: str | None) -> list[str]:
    """The secret-looking values a URL carries: query values of parameters named like
    keys or tokens, and the password of its userinfo. They are masked in every message."""
    if not url:
        return []
    try:
        parsed = urllib.parse.urlsplit(url)
        pairs = urllib.parse.parse_qsl(parsed.query, keep_blank_values=False)
    except ValueError:
        return []
    found = [v for k, v in pairs if re.fullmatch(_SECRET_NAMES, k, flags=re.IGNORECASE)]
    if parsed.password:
        found.append(parsed.password)
    return found


def _short_body(resp: httpx.Response, limit: int = 200) -> str:
    try:
        text = resp.text.strip()
    except Exception:  # pragma: no cover - undecodable body
        return ""
    if not text:
        return ""
    text = " ".join(text.split())
    return ": " + (text[:limit] + "…" if len(text) > limit else text)
