"""Crash suite: SIGKILL `baton run`, `baton resume --takeover` and `baton cleanup` at random
points against the sandbox; after `baton resume --takeover` and `baton cleanup`, no test
record may be left in any stand-in, and the store must still work.

Every `baton` is a real process (those killed run ``python -m baton.probes.cli``: the same
commands without the Slack bot's imports; those whose output is checked run the console
script's ``baton.probes.cli:main``). Their tools sit behind a small proxy in this test process: each
process gets its own URL prefix (``BATON_SANDBOX_URL=http://127.0.0.1:PORT/p17``), so the
proxy knows whose request it sees. It can hold a request open (the entry's POST, a
cleanup's write) until the process is killed, which lands a kill exactly there: with the
request forwarded (the tool has the record, Baton never heard back), never forwarded, or
forwarded only after the kill (the tool takes it from a client that is already gone). The
sandbox's own ``delay`` fault cannot do that: the glue answers its catch hook at once and
delays only the work behind it.

The kills are drawn from a seeded RNG (``CRASH_SEED``; ``CRASH_SCALE=N`` multiplies the
number of `baton run` kills, for a longer bench). Test records are counted with the
stand-ins' own list APIs: live HubSpot contacts, Stripe customers, invoices that are not
void, pending invoice items. SendGrid's message activity is history that no API can delete
(Baton's SendGrid connector removes nothing), so it is not counted.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlite_utils
from aiohttp import ClientSession, ClientTimeout, web
from test_integration import FAST, fast_config
from yarl import URL

from baton.probes.engine import Engine
from baton.probes.sandbox import Sandbox
from baton.probes.store import Store

ROOT = Path(__file__).resolve().parents[1]
#: The example config with short deadlines; the stand-ins set no rate limit, so neither
#: does Baton much (a resume that cleans up fifty runs sends a hundred Stripe writes).
CONFIG = re.sub(r"rate_limit: \d+/s", "rate_limit: 200/s", FAST)
#: The console script `baton` (baton.probes.cli:main), run by this interpreter.
BATON = (sys.executable, "-c", "from baton.probes.cli import main; main()")
#: The same engine commands (run, resume, cleanup) without the Slack bot's imports.
BATON_M = (sys.executable, "-m", "baton.probes.cli")
SEED = int(os.environ.get("CRASH_SEED", "20261130"))
SCALE = max(1, int(os.environ.get("CRASH_SCALE", "1")))
#: How long a planned kill waits for its moment (a held request, a first look) at most.
PATIENCE_S = 60.0
AUTH = {"Authorization": "Bearer sandbox-token"}
MARKER = re.compile(rb"bt[a-z0-9]{6}")
NOTHING_PENDING = re.compile(r"removed, 0 cleanup task\(s\) still pending")
_HOP_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"}
)

Match = Callable[[str, str], bool]


def entry_post(method: str, path: str) -> bool:
    """The entry's request: the glue's catch hook, or a HubSpot form submission."""
    return method == "POST" and path.startswith(("/glue/", "/hsforms/"))


def cleanup_write(method: str, path: str) -> bool:
    """A request that removes something: HubSpot's archive, Stripe's deletes and voids."""
    if path.startswith("/hubspot/"):
        return path.endswith("/batch/archive") or method == "DELETE"
    return path.startswith("/stripe/") and (method == "DELETE" or path.endswith("/void"))


def stripe_write(method: str, path: str) -> bool:
    return path.startswith("/stripe/") and cleanup_write(method, path)


def tool_look(method: str, path: str) -> bool:
    """Any request to an observed tool (the first look of a run)."""
    return path.startswith(("/hubspot/", "/sendgrid/", "/stripe/"))


# -- the proxy ------------------------------------------------------------------------------


@dataclass
class Hold:
    """Hold a process's requests that ``match`` (the first one and every later one) until
    ``Proxy.release``. ``forward``: ``first`` sends each to the tool and holds its answer;
    ``never`` never sends it; ``after`` sends it only once released (after the kill)."""

    match: Match
    forward: str
    hit_at: float | None = None
    held: int = 0


class Proxy:
    """Forwards ``/PREFIX/<tool path>`` to the sandbox, noting every request per prefix; can
    hold requests (``holds``) or refuse them with a 403 (``refusals``)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.events: dict[str, list[tuple[float, str, str]]] = {}
        self.markers: dict[str, list[str]] = {}
        self.holds: dict[str, Hold] = {}
        self.refusals: dict[str, Match] = {}
        self._released: dict[str, asyncio.Event] = {}
        self._busy: dict[str, int] = {}
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._serve, name="crash-proxy", daemon=True)
        self.port = 0

    def __enter__(self) -> Proxy:
        self._thread.start()
        assert self._ready.wait(10), "proxy did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            for prefix in list(self._released):
                loop.call_soon_threadsafe(self._released[prefix].set)
            loop.call_soon_threadsafe(stop.set)
        self._thread.join(10)

    def url(self, prefix: str) -> str:
        return f"http://127.0.0.1:{self.port}/{prefix}"

    def seen(self, prefix: str, match: Match) -> float | None:
        """When the first request of ``prefix`` that ``match`` came in (monotonic), if any."""
        with self._lock:
            events = list(self.events.get(prefix, []))
        return next((at for at, method, path in events if match(method, path)), None)

    def release(self, prefix: str) -> None:
        """Let every held request of ``prefix`` go (forwarding the ``after`` ones), and wait
        until they are all done."""
        loop = self._loop
        assert loop is not None
        event = self._released.get(prefix)
        if event is not None:
            loop.call_soon_threadsafe(event.set)
        deadline = time.monotonic() + 10
        while self._busy.get(prefix, 0) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not self._busy.get(prefix, 0), f"held requests of {prefix} never finished"

    def _serve(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._session = ClientSession(timeout=ClientTimeout(total=30))
        app = web.Application(client_max_size=16 * 1024**2)
        app.router.add_route("*", "/{prefix}/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(runner.addresses[0][1])
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        prefix, path = request.match_info["prefix"], "/" + request.match_info["tail"]
        method = request.method
        body = await request.read()
        with self._lock:
            self.events.setdefault(prefix, []).append((time.monotonic(), method, path))
            if entry_post(method, path):
                found = [m.decode() for m in MARKER.findall(body)]
                self.markers.setdefault(prefix, []).extend(found[:1])
        refuse = self.refusals.get(prefix)
        if refuse is not None and refuse(method, path):
            # What a restricted Stripe key without write permission is answered.
            error = {
                "type": "invalid_request_error",
                "message": "The provided key does not have the required permissions.",
            }
            return web.json_response({"error": error}, status=403)
        hold = self.holds.get(prefix)
        if hold is None or not hold.match(method, path):
            return await self._forward(request, body)
        self._busy[prefix] = self._busy.get(prefix, 0) + 1
        try:
            released = self._released.setdefault(prefix, asyncio.Event())
            answer: web.StreamResponse = web.Response(status=504)
            if hold.forward == "first":
                answer = await self._forward(request, body)
            hold.held += 1
            if hold.hit_at is None:
                hold.hit_at = time.monotonic()
            await released.wait()
            if hold.forward == "after":
                answer = await self._forward(request, body)
            return answer
        finally:
            self._busy[prefix] -= 1

    async def _forward(self, request: web.Request, body: bytes) -> web.Response:
        # The path and query exactly as the process sent them (encoded), without the prefix.
        url = self.upstream + request.raw_path.removeprefix("/" + request.match_info["prefix"])
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        async with self._session.request(
            request.method, URL(url, encoded=True), data=body, headers=headers
        ) as resp:
            data = await resp.read()
            out = {k: v for k, v in resp.headers.items() if k.lower() not in _HOP_HEADERS}
            out.pop("Content-Encoding", None)
            return web.Response(status=resp.status, body=data, headers=out)


# -- baton processes ------------------------------------------------------------------------


@dataclass
class Plan:
    """One `baton` process, and when to send it ``sig``: ``delay`` seconds after its hold
    first held a request, else after its first request matching ``watch``, else after it
    started (``delay=None``: never; it ends by itself). ``console``: run the console script
    itself (the commands whose output is checked), else ``python -m baton.probes.cli`` (the same
    commands without importing the Slack bot: half the start-up, for the processes killed)."""

    args: tuple[str, ...]
    target: str
    delay: float | None = None
    hold: Hold | None = None
    watch: Match | None = None
    refuse: Match | None = None
    sig: signal.Signals = signal.SIGKILL
    console: bool = False
    #: Called as soon as the process has ended, before any other starts.
    check: Callable[[Outcome], None] | None = None


@dataclass
class Outcome:
    plan: Plan
    prefix: str
    code: int
    out: str
    err: str
    markers: list[str] = field(default_factory=list)

    @property
    def killed(self) -> bool:
        return self.code == -signal.SIGKILL

    def show(self) -> str:
        return (
            f"baton {' '.join(self.plan.args)} [{self.plan.target}, {self.prefix}] exit "
            f"{self.code}\n--- stdout\n{self.out[-3000:]}\n--- stderr\n{self.err[-3000:]}"
        )


class Batons:
    """Starts `baton` processes against one config and store, each behind its own prefix."""

    def __init__(self, config: Path, proxy: Proxy, workdir: Path, pycache: Path) -> None:
        self.config = config
        self.proxy = proxy
        self.workdir = workdir
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        # Compiled modules kept outside the work tree: later processes start faster.
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
        self.env = env
        self.count = 0

    def run_all(self, plans: list[Plan], *, parallel: int) -> list[Outcome]:
        """Run ``plans``, at most ``parallel`` at once, each signalled at its moment."""
        queue = list(plans)
        live: list[tuple[Plan, str, subprocess.Popen[bytes], float, Path]] = []
        done: list[Outcome] = []
        while queue or live:
            while queue and len(live) < parallel:
                plan = queue.pop(0)
                prefix, proc, log = self._spawn(plan)
                live.append((plan, prefix, proc, time.monotonic(), log))
            for item in list(live):
                plan, prefix, proc, started, log = item
                if proc.poll() is None and not self._due(plan, prefix, started):
                    continue
                if proc.poll() is None:
                    proc.send_signal(plan.sig)
                proc.wait(timeout=30)
                if plan.hold is not None:
                    self.proxy.release(prefix)
                live.remove(item)
                done.append(self._outcome(plan, prefix, proc, log))
                if plan.check is not None:
                    plan.check(done[-1])
            time.sleep(0.005)
        return done

    def run(self, *args: str) -> Outcome:
        """One `baton` command (the console script) to its end."""
        [outcome] = self.run_all([Plan(args, "to the end", console=True)], parallel=1)
        return outcome

    def _spawn(self, plan: Plan) -> tuple[str, subprocess.Popen[bytes], Path]:
        self.count += 1
        prefix = f"p{self.count}"
        if plan.hold is not None:
            self.proxy.holds[prefix] = plan.hold
        if plan.refuse is not None:
            self.proxy.refusals[prefix] = plan.refuse
        log = self.workdir / prefix
        with open(f"{log}.out", "wb") as out, open(f"{log}.err", "wb") as err:
            proc = subprocess.Popen(
                [*(BATON if plan.console else BATON_M), *plan.args, "-c", str(self.config)],
                env={**self.env, "BATON_SANDBOX_URL": self.proxy.url(prefix)},
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        return prefix, proc, log

    def _due(self, plan: Plan, prefix: str, started: float) -> bool:
        now = time.monotonic()
        if now - started > 3 * PATIENCE_S:
            raise AssertionError(f"baton {' '.join(plan.args)} [{prefix}] still running")
        if plan.delay is None:
            return False
        if plan.hold is not None:
            since = plan.hold.hit_at
        elif plan.watch is not None:
            since = self.proxy.seen(prefix, plan.watch)
        else:
            since = started
        if since is None:
            return now - started > PATIENCE_S  # its moment never came: kill it anyway
        return now >= since + plan.delay

    def _outcome(
        self, plan: Plan, prefix: str, proc: subprocess.Popen[bytes], log: Path
    ) -> Outcome:
        out = Path(f"{log}.out").read_text(encoding="utf-8", errors="replace")
        err = Path(f"{log}.err").read_text(encoding="utf-8", errors="replace")
        markers = list(self.proxy.markers.get(prefix, []))
        return Outcome(plan, prefix, proc.returncode, out, err, markers)


# -- what the stand-ins hold --------------------------------------------------------------


def _pages(http: httpx.Client, path: str, **params: str) -> Iterator[dict[str, Any]]:
    """Every object of a Stripe list."""
    after: str | None = None
    while True:
        query = {"limit": "100", **params, **({"starting_after": after} if after else {})}
        page = http.get(path, params=query).raise_for_status().json()
        yield from page["data"]
        if not page["has_more"]:
            return
        after = page["data"][-1]["id"]


def records_left(sb: Sandbox) -> dict[str, list[str]]:
    """Live test records in each stand-in, read through its own list API."""
    left: dict[str, list[str]] = {}
    with httpx.Client(base_url=sb.url, headers=AUTH, timeout=10) as http:
        contacts: list[str] = []
        after = "0"
        while after is not None:
            page = http.get(
                "/hubspot/crm/v3/objects/contacts",
                params={"limit": "100", "after": after, "properties": "email"},
            ).raise_for_status()
            data = page.json()
            contacts += [c["properties"].get("email", c["id"]) for c in data["results"]]
            after = data.get("paging", {}).get("next", {}).get("after")
        left["hubspot contacts"] = contacts
        left["stripe customers"] = [
            str(c.get("email")) for c in _pages(http, "/stripe/v1/customers")
        ]
        left["stripe invoices not void"] = [
            f"{i['id']} ({i['status']})"
            for i in _pages(http, "/stripe/v1/invoices")
            if i["status"] != "void"
        ]
        left["stripe pending invoice items"] = [
            i["id"] for i in _pages(http, "/stripe/v1/invoiceitems", pending="true")
        ]
    counts = sb.state()["counts"]  # the stand-ins' own tallies must agree
    assert counts["hubspot"]["contacts"] == len(left["hubspot contacts"]), counts
    assert counts["stripe"]["customers"] == len(left["stripe customers"]), counts
    return {what: found for what, found in left.items() if found}


def no_traceback(outcomes: list[Outcome]) -> None:
    for o in outcomes:
        assert "Traceback" not in o.err + o.out, o.show()


def store_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql).fetchall())


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pycache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pycache")


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(search_lag_s=0.3, glue_delay_s=(0.05, 0.2), seed=SEED) as sb:
        yield sb


@pytest.fixture
def batons(sandbox: Sandbox, tmp_path: Path, pycache: Path) -> Iterator[Batons]:
    config = tmp_path / "baton.yaml"  # its store: tmp_path / "baton.db"
    config.write_text(CONFIG, encoding="utf-8")
    (tmp_path / "logs").mkdir()
    with Proxy(sandbox.url) as proxy:
        yield Batons(config, proxy, tmp_path / "logs", pycache)


# -- the campaign ---------------------------------------------------------------------------

RUNS = [
    ("run", "lead-to-invoice", "-q", "-v", "card"),
    ("run", "lead-to-invoice", "-q", "-v", "paypal"),
    ("run", "lead-to-invoice", "-q", "-v", "unicode"),
    ("run", "hubspot-signup", "-q"),
]
RESUME = ("resume", "--takeover")


def run_kills(rng: random.Random, n: int) -> list[Plan]:
    """``n`` kills of `baton run`, spread over start-up, the entry's POST in flight, the
    looks, the cleanup and anywhere after the injection."""
    shares = {
        "boot": 6,
        "post-forwarded": 8,
        "post-never-sent": 3,
        "post-sent-after": 3,
        "observe": 8,
        "cleanup": 8,
        "anywhere": 6,
    }
    targets = [t for t, k in shares.items() for _ in range(k)]
    targets = (targets * (n // len(targets) + 1))[:n]
    rng.shuffle(targets)
    plans = []
    for target in targets:
        args = rng.choice(RUNS)
        if target == "boot":  # importing, reading the config, opening the store, the POST
            plans.append(Plan(args, target, delay=rng.uniform(0.05, 1.2)))
        elif target.startswith("post-"):
            mode = {"forwarded": "first", "never-sent": "never", "sent-after": "after"}
            hold = Hold(entry_post, mode[target.removeprefix("post-")])
            plans.append(Plan(args, target, delay=rng.uniform(0.0, 0.3), hold=hold))
        elif target == "observe":
            plans.append(Plan(args, target, delay=rng.uniform(0.0, 1.8), watch=tool_look))
        elif target == "cleanup":
            hold = Hold(cleanup_write, rng.choice(["first", "never", "after"]))
            plans.append(Plan(args, target, delay=rng.uniform(0.0, 0.2), hold=hold))
        else:
            plans.append(Plan(args, target, delay=rng.uniform(0.0, 3.0), watch=entry_post))
    return plans


def command_kills(rng: random.Random, args: tuple[str, ...], n: int) -> list[Plan]:
    """``n`` kills of `baton cleanup` or `baton resume --takeover`: most while a removal is
    held (not sent, or sent and its answer lost), the others at random."""
    plans = []
    for i in range(n):
        if i % 3 == 2:
            plans.append(Plan(args, f"{args[0]}-anywhere", delay=rng.uniform(0.1, 1.0)))
        else:
            # Not sent but by the last ones, so the next kills still find something to remove.
            mode = rng.choice(["first", "after"]) if i >= n - 3 else "never"
            hold = Hold(cleanup_write, mode)
            plans.append(Plan(args, f"{args[0]}-removing", delay=0.05, hold=hold))
    return plans


def summary(outcomes: list[Outcome]) -> str:
    return " ".join(f"{o.prefix}:{o.plan.target}:{o.code}" for o in outcomes)


def test_sigkill_anywhere_then_resume_and_cleanup_leave_no_test_record(
    batons: Batons, sandbox: Sandbox, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    db = tmp_path / "baton.db"

    def entry_in_flight(o: Outcome) -> None:
        """A kill with the entry's POST in flight leaves its run active, the entry undecided."""
        [marker] = o.markers
        [row] = store_rows(
            db,
            "SELECT r.status, s.state FROM runs r JOIN stages s ON s.run_id = r.id "
            f"WHERE r.id = 'r-{marker.removeprefix('bt')}' AND s.position = 0",
        )
        assert row == ("active", "waiting"), o.show()

    # 1. `baton run`, killed anywhere, 8 at a time (a new store: they race to set it up).
    plans = run_kills(rng, 42 * SCALE)
    for plan in plans:
        if plan.target.startswith("post-"):
            plan.check = entry_in_flight
    runs = batons.run_all(plans, parallel=8)
    for o in runs:
        if not o.killed:  # it ended before its moment came: then it ended well
            assert o.code in (0, 1, 3) and "Verdict:" in o.out, o.show()
    for o in runs:  # a held request is a kill there, for sure
        assert o.plan.hold is None or (o.killed and o.plan.hold.held), o.show()

    # 2. Work for `baton cleanup` (runs killed above keep their lease for a minute): runs
    #    whose Stripe cleanup is refused (a key without write access) finish with a task
    #    pending; runs stopped with Ctrl-C while watching give their run up.
    plans = [Plan(RUNS[0], "refused", refuse=stripe_write) for _ in range(3)]
    more = batons.run_all(plans, parallel=3)
    for o in more:
        assert o.code in (0, 1, 3) and "Cleanup: partial" in o.out, o.show()
    plans = []
    for args in RUNS[:3]:  # stopped while a look is in flight; refused too, so their own
        hold = Hold(tool_look, "first")  # retry of leftovers leaves the tasks above pending
        plans.append(Plan(args, "ctrl-c", 0.05, hold, refuse=stripe_write, sig=signal.SIGINT))
    stopped = batons.run_all(plans, parallel=3)
    for o in stopped:
        assert o.code == 130 and "`baton resume` finishes it" in o.err, o.show()
    more += stopped
    given_up = "SELECT COUNT(*) FROM runs WHERE status = 'active' AND lease_owner IS NULL"
    assert store_rows(db, given_up) == [(3,)]

    # 3. `baton cleanup`, killed while it removes or at random, three at a time. While runs
    #    killed above are still leased, it never says "0 pending".
    cleanups = batons.run_all(command_kills(rng, ("cleanup",), 9), parallel=3)
    for o in cleanups:
        if not o.killed:
            assert o.code in (0, 3) and o.out.startswith("cleanup: "), o.show()
            if "still being watched" in o.out:
                assert o.code == 3 and not NOTHING_PENDING.search(o.out), o.show()
    assert sum(o.killed for o in cleanups if o.plan.hold) == 6, summary(cleanups)

    # 4. `baton resume --takeover`, killed while it removes or at random, three at a time.
    resumes = batons.run_all(command_kills(rng, RESUME, 9), parallel=3)
    for o in resumes:
        if not o.killed:
            assert o.code in (0, 1, 3), o.show()
    assert sum(o.killed for o in resumes if o.plan.hold) == 6, summary(resumes)

    outcomes = runs + more + cleanups + resumes
    no_traceback(outcomes)
    kills: dict[str, int] = {}
    for o in outcomes:
        if o.killed:
            kills[o.plan.target] = kills.get(o.plan.target, 0) + 1
    assert sum(kills.values()) >= 50, kills
    assert sum(n for t, n in kills.items() if t.startswith("post-")) == 14 * SCALE, kills
    assert kills["cleanup"] == 8 * SCALE, kills

    # 5. Recovery: whatever the killed processes left (the glue is done by now), `baton
    #    resume --takeover` finishes and cleans, and `baton cleanup` has nothing left to do.
    assert sandbox.wait_idle(10)
    resume = batons.run(*RESUME, "--json")
    assert resume.code in (0, 3), resume.show()
    results = json.loads(resume.out)
    assert all(r["cleanup"]["status"] == "done" for r in results), resume.show()
    assert all(r["verdict"] != "leak" for r in results), resume.show()
    cleanup = batons.run("cleanup")
    assert cleanup.code == 0, cleanup.show()
    assert NOTHING_PENDING.search(cleanup.out) and "watched" not in cleanup.out, cleanup.show()
    no_traceback([resume, cleanup])
    assert records_left(sandbox) == {}
    # There was plenty to remove: the glue wrote records for most of the runs.
    counts = sandbox.state()["counts"]
    assert counts["glue"]["runs"] >= 25 and counts["hubspot"]["archived"] >= 20, counts
    assert counts["stripe"]["deleted_customers"] >= 15, counts

    # 6. The store came through every kill: intact, nothing active or pending, and a new
    #    run works on it.
    assert store_rows(db, "PRAGMA integrity_check") == [("ok",)]
    assert store_rows(db, "SELECT id FROM runs WHERE status = 'active'") == []
    assert store_rows(db, "SELECT run_id, tool FROM cleanup WHERE status != 'done'") == []
    after = batons.run("run", "lead-to-invoice", "--json")
    assert after.code == 0, after.show()
    assert json.loads(after.out)["cleanup"]["status"] == "done"
    no_traceback([after])
    assert records_left(sandbox) == {}


# -- the cases the suite found, one by one --------------------------------------------------


def test_a_kill_mid_post_is_pending_for_cleanup_and_taken_over_at_once(
    batons: Batons, sandbox: Sandbox
) -> None:
    """SIGKILL while the entry's POST is in flight (the glue has the record, Baton never heard
    back): `baton cleanup` must not say 0 pending, and `baton resume --takeover` closes the
    run at once (it used to wait out the entry's deadline and grace: 90 s by default)."""
    hold = Hold(entry_post, "first")
    [killed] = batons.run_all([Plan(RUNS[0], "post", delay=0.1, hold=hold)], parallel=1)
    assert killed.killed and hold.held == 1, killed.show()
    assert sandbox.wait_idle(10)
    assert set(records_left(sandbox)) == {
        "hubspot contacts",
        "stripe customers",
        "stripe invoices not void",
    }

    cleanup = batons.run("cleanup")
    assert cleanup.code == 3, cleanup.show()
    assert "4 cleanup task(s) still pending" in cleanup.out, cleanup.show()
    assert "1 run(s), with 4 of those task(s), still being watched" in cleanup.out

    started = time.monotonic()
    resume = batons.run("resume", "--takeover", "--json")
    assert time.monotonic() - started < 20, resume.show()
    assert resume.code == 3, resume.show()
    [result] = json.loads(resume.out)
    entry = result["stages"][0]
    assert "interrupted while injecting" in entry["findings"][0]["message"]
    assert result["cleanup"] == {"status": "done", "removed": 3}
    assert records_left(sandbox) == {}

    cleanup = batons.run("cleanup")
    assert cleanup.code == 0 and NOTHING_PENDING.search(cleanup.out), cleanup.show()
    no_traceback([killed, cleanup, resume])


def test_resume_takes_interrupted_runs_together(sandbox: Sandbox, tmp_path: Path) -> None:
    """Runs a dead process left are resumed side by side, not one after the other (the last
    one would be looked at only after its deadlines, and cleaned up last)."""
    db = tmp_path / "runs.db"

    async def scenario() -> tuple[int, list[Any]]:
        config = fast_config(sandbox.url)
        async with httpx.AsyncClient() as client:
            dead = Engine(config, store=Store(sqlite_utils.Database(db)), client=client)
            for _ in range(3):  # injected, then its process "dies": the leases stay
                await dead.start("lead-to-invoice", "card")
            other = Engine(config, store=Store(sqlite_utils.Database(db)), client=client)
            finish, active, peak = other.finish, 0, 0

            async def counted(run_id: str, **kwargs: Any) -> Any:
                nonlocal active, peak
                active += 1
                peak = max(peak, active)
                try:
                    return await finish(run_id, **kwargs)
                finally:
                    active -= 1

            other.finish = counted  # type: ignore[method-assign]
            results = await other.resume_interrupted(takeover=True)
            return peak, results

    peak, results = asyncio.run(scenario())
    assert [r.verdict for r in results] == ["ok"] * 3
    assert all(r.cleanup.status == "done" for r in results)
    assert peak == 3
    assert records_left(sandbox) == {}


def test_a_new_store_opened_by_many_at_once_works_for_all(tmp_path: Path) -> None:
    """Parallel `baton run`s on a new store race to set it up (WAL mode, tables, columns):
    none may fail with "database is locked" or "table runs already exists"."""
    from baton.probes.store import open_store

    errors: list[str] = []

    def open_it(path: Path, start: threading.Barrier) -> None:
        start.wait()
        try:
            open_store(path).active_runs()
        except Exception as exc:
            errors.append(str(exc))

    for trial in range(5):
        start = threading.Barrier(8)
        args = (tmp_path / f"{trial}.db", start)
        threads = [threading.Thread(target=open_it, args=args) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert errors == [], errors
