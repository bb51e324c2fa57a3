"""``Sandbox``: the stand-ins' aiohttp server in a background thread with its own loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from ._app import CONTROL, build_app
from ._state import REQUEST_LOG_SIZE, SandboxState
from .faults import Fault, FaultPlan

T = TypeVar("T")

_START_TIMEOUT_S = 10.0
_CALL_TIMEOUT_S = 10.0
PREFIXES = ("hsforms", "hubspot", "sendgrid", "stripe", "glue")
#: Longest request line and header the server reads (aiohttp's default is 8190 bytes). A
#: SendGrid activity query OR-ing 100 recipients is a URL of 6-10 KB, which SendGrid takes.
MAX_LINE_SIZE = 16384


class Sandbox:
    """Local stand-ins of HubSpot (CRM + Forms), SendGrid and Stripe, and a glue automation
    between them, with faults injected. One aiohttp server, one background thread.

    Example::

        with Sandbox(faults=["swap@crm=firstname,email"], search_lag_s=0.2) as sb:
            hook = sb.urls["glue"] + "/hooks/catch/123/abc"
            httpx.post(hook, json={"email": "ada@example.com", "first_name": "Ada"})
            sb.wait_idle()
            sb.state()["counts"]["hubspot"]["contacts"]  # 1

    ``faults``: fault specs (see ``baton.probes.sandbox.faults``); bad ones raise
    ``FaultSpecError`` here, before anything starts. ``seed`` fixes every random choice
    (ids, glue delays, ``drop=1/N``). ``search_lag_s``: how far HubSpot search, Stripe
    search and SendGrid activity lag behind writes. ``glue_delay_s``: the glue's random
    delay (low, high) before it acts on a hook or form submission. ``request_log_size``:
    how many of the newest requests ``requests()`` keeps (``counts()`` counts them all).
    ``wall``: the clock objects are stamped with (``time.time``; tests pass a fake one).
    """

    def __init__(
        self,
        faults: Iterable[str | Fault] = (),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        search_lag_s: float = 1.0,
        glue_delay_s: tuple[float, float] = (0.05, 0.3),
        request_log_size: int = REQUEST_LOG_SIZE,
        wall: Callable[[], float] = time.time,
    ) -> None:
        low, high = glue_delay_s
        if not 0 <= low <= high:
            raise ValueError(
                f"glue_delay_s must be (low, high) with 0 <= low <= high, got {glue_delay_s}"
            )
        if search_lag_s < 0:
            raise ValueError(f"search_lag_s must be >= 0, got {search_lag_s}")
        if request_log_size < 0:
            raise ValueError(f"request_log_size must be >= 0, got {request_log_size}")
        self.host = host
        self.port = port
        self._state = SandboxState(
            faults=FaultPlan(faults, seed=seed),
            search_lag_s=search_lag_s,
            glue_delay_s=(low, high),
            wall=wall,
            request_log_size=request_log_size,
        )
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._bound_port: int | None = None

    # Lifecycle ----------------------------------------------------------------------
    def start(self) -> Sandbox:
        """Start serving; returns once the server listens (raises if it cannot)."""
        if self._thread is not None:
            raise RuntimeError("sandbox already started")
        self._ready.clear()
        self._error = None
        thread = threading.Thread(target=self._serve, name="baton-sandbox", daemon=True)
        self._thread = thread
        thread.start()
        if not self._ready.wait(_START_TIMEOUT_S):
            self.stop()
            raise RuntimeError(f"sandbox did not start within {_START_TIMEOUT_S:g}s")
        if self._error is not None:
            thread.join()
            self._thread = None
            raise self._error
        return self

    def stop(self) -> None:
        """Stop serving and join the thread; pending glue work is cancelled. Idempotent."""
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            return
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(stop.set)
        thread.join(_START_TIMEOUT_S)
        self._thread = None
        self._loop = None
        self._stop = None
        self._bound_port = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _serve(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runner = web.AppRunner(
            build_app(self._state),
            access_log=None,
            shutdown_timeout=1.0,
            max_line_size=MAX_LINE_SIZE,
            max_field_size=MAX_LINE_SIZE,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
            self._bound_port = int(runner.addresses[0][1])
            self._ready.set()
            await self._stop.wait()
        finally:
            await self._state.cancel_tasks()
            await runner.cleanup()

    # Addresses ----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._bound_port is not None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123``."""
        if self._bound_port is None:
            raise RuntimeError("sandbox not started: call start() or use it as a context manager")
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        if ":" in host:
            host = "[::1]" if host == "::" else f"[{host}]"
        return f"http://{host}:{self._bound_port}"

    @property
    def urls(self) -> dict[str, str]:
        """Base URL of each stand-in: hsforms, hubspot, sendgrid, stripe, glue."""
        return {name: f"{self.url}/{name}" for name in PREFIXES}

    @property
    def control_url(self) -> str:
        return f"{self.url}/{CONTROL}"

    # Control ------------------------------------------------------------------------
    @property
    def faults(self) -> list[str]:
        """The faults in force, as canonical specs."""
        return self._call(lambda: self._state.faults.specs)

    def set_faults(self, faults: Iterable[str | Fault]) -> None:
        """Replace the faults in force (parsed here: a bad spec raises ``FaultSpecError``)."""
        plan = FaultPlan(faults, seed=self._state.faults.seed)
        self._call(lambda: self._state.set_faults(plan))

    def reset(self) -> None:
        """Forget every stored object, logged request and glue run; faults stay."""
        if self.running:
            self._acall(self._state.reset)
        else:
            self._state.clear()

    def state(self) -> dict[str, Any]:
        """What ``GET /_sandbox/state`` shows: counts, faults, latest glue runs."""
        return self._call(self._state.snapshot)

    def requests(self, tool: str | None = None) -> list[dict[str, Any]]:
        """The newest logged requests (method, path, route, query, headers without
        Authorization, body, status); at most ``request_log_size`` of them."""
        return self._call(
            lambda: [dict(e) for e in self._state.requests if tool is None or e["tool"] == tool]
        )

    def counts(self) -> dict[str, dict[str, int]]:
        """Requests served since the last reset, per tool and route template::

            {"hubspot": {"POST /crm/v3/objects/contacts/batch/read": 3}}

        Every request a stand-in received counts, whatever it answered (429, 503, ...);
        one no route matched counts as ``"GET (no route)"``. ``GET /_sandbox/counts``
        shows the same; ``reset()`` (or ``POST /_sandbox/reset``) zeroes them.
        """
        return self._call(self._state.route_counts)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until the glue has no pending work (or ``timeout``); True when idle."""
        deadline = time.monotonic() + timeout
        while self._call(lambda: len(self._state.tasks)) > 0:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop (its state is the loop's alone), or right here
        when the server is not running."""
        if not self.running:
            return fn()

        async def wrapped() -> T:
            return fn()

        return self._acall(wrapped)

    def _acall(self, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
        loop = self._loop
        if loop is None or loop.is_closed():
            raise RuntimeError("sandbox not running")
        if threading.current_thread() is self._thread:
            raise RuntimeError("Sandbox methods are for other threads, not the sandbox's own loop")
        return asyncio.run_coroutine_threadsafe(fn(), loop).result(_CALL_TIMEOUT_S)

    def __repr__(self) -> str:
        where = self.url if self.running else "stopped"
        return f"<Sandbox {where} faults={self._state.faults.specs}>"
