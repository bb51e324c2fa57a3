"""Several workspaces at volume (``slack.oauth``): one tick for the process, whatever the
number of installed workspaces, and nothing kept per workspace that merely sent a request.

Installs go through the real flow (``GET /slack/install``, ``/slack/oauth_redirect``), commands
are signed as Slack signs them, every Web API call is checked against
``tests/specs/slack.web.v2.json``, and each carries the token issued to its workspace.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlite_utils
from bot_support import SECRET, FakeEngine, sample_config
from slack_standin import SlackStandIn, signed_headers, slash_body
from test_bot_oauth import (
    CLIENT_ID,
    CLIENT_SECRET,
    CONFIG,
    ENV,
    SINGLE_TOKEN,
    World,
    bot_factory,
    oauth_creds,
)

from baton.bot.server import start_http
from baton.bot.workspaces import ScopedEngine, Workspaces
from baton.bot.workspaces.oauth import OAuthClient, OAuthRoutes
from baton.bot.workspaces.ticking import SharedTick, TickShare, WorkspaceSchedulers
from baton.probes.config import (
    Config,
    DigestSchedule,
    SlackConfig,
    SlackOAuthConfig,
    load_config_text,
)
from baton.probes.config.windows import AlertPolicy
from baton.probes.errors import ConfigError
from baton.probes.health.alerts import flips
from baton.probes.health.schedule import ScheduledRun
from baton.probes.model import RunResult
from baton.probes.store import Store

pytestmark = pytest.mark.anyio

TEAMS = ("T0AGENCYA", "T0AGENCYB", "T0AGENCYC")
WORKFLOW = dict(zip(TEAMS, ("lead-to-invoice", "newsletter", "onboarding"), strict=True))
ALERTS = {team: f"C0ALERT{team[-1]}" for team in TEAMS}
DIGESTS = {team: f"C0DIGEST{team[-1]}" for team in TEAMS}
TICK_S = 0.05
#: Ticks a run of the stepping engine takes to finish.
STEPS = 3


def three_agencies(installations: str) -> Config:
    """A workflow per agency (alerting on the first leak), and a digest per agency."""
    config = sample_config()
    one = AlertPolicy(failures_before_alert=1)
    news = config.workflows["newsletter"]
    workflows = {
        "lead-to-invoice": dataclasses.replace(
            config.workflows["lead-to-invoice"], workspace=TEAMS[0], alerts=one
        ),
        "newsletter": dataclasses.replace(news, workspace=TEAMS[1], alerts=one),
        "onboarding": dataclasses.replace(news, name="onboarding", workspace=TEAMS[2], alerts=one),
    }
    digests = [
        DigestSchedule(DIGESTS[team], "0 9 * * 1", workflows=(WORKFLOW[team],)) for team in TEAMS
    ]
    slack = SlackConfig(oauth=SlackOAuthConfig(installations=installations), digests=digests)
    return dataclasses.replace(config, workflows=workflows, slack=slack)


class SteppingEngine(FakeEngine):
    """Steps every active run once a tick, and finishes it at its ``STEPS``-th step."""

    def __init__(self, config: Config, *, store: Store) -> None:
        super().__init__(config, store=store, outcome="drop")
        self.ticks = 0
        self.steps: dict[str, list[int]] = {}  # run id: the tick numbers that stepped it

    async def tick(self) -> list[RunResult]:
        self.ticks += 1
        finished = []
        for run in self.store.active_runs():
            steps = self.steps.setdefault(run["id"], [])
            steps.append(self.ticks)
            if len(steps) == STEPS:
                finished.append(await self.finish(run["id"]))
        return finished


@dataclass
class Volume:
    world: World
    shared: SharedTick
    schedulers: WorkspaceSchedulers
    engine: SteppingEngine

    def posted(self, channel: str) -> set[str]:
        """The Authorization headers of every post (message or file) in ``channel``."""
        return {
            c.headers["Authorization"]
            for c in self.world.slack.calls
            if channel in (c.params.get("channel"), c.params.get("channel_id"))
        }


@asynccontextmanager
async def volume(tmp_path: Path) -> AsyncIterator[Volume]:
    """``serve_workspaces``' wiring over the Slack stand-in: a bot and a scheduler per
    workspace, one ``SharedTick`` ticking every ``TICK_S``."""
    db_file = tmp_path / "installations.db"
    config = three_agencies(str(db_file))
    db = sqlite_utils.Database(memory=True)
    engine = SteppingEngine(config, store=Store(db))
    shared = SharedTick(engine, every_s=TICK_S)
    schedulers = WorkspaceSchedulers(shared)
    creds = oauth_creds(db_file)
    async with SlackStandIn(token=SINGLE_TOKEN) as slack:
        slack.oauth_clients[CLIENT_ID] = CLIENT_SECRET

        make_bot = bot_factory(engine, db)

        def installed(team: str) -> None:
            workspaces.forget(team)
            schedulers.remove(team)

        routes = OAuthRoutes.build(
            creds,
            api_url=slack.api_url,
            client=OAuthClient(base_url=slack.api_url, retry_handlers=[]),
            on_installed=installed,
        )
        workspaces = Workspaces(
            config=config,
            installations=routes.installations,
            make_bot=make_bot,
            api_url=slack.api_url,
            oauth=routes,
            on_bot=schedulers.add,
        )
        stop = asyncio.Event()
        runner, port = await start_http(workspaces, signing_secret=SECRET, port=0)
        ticker = asyncio.create_task(shared.run(stop))
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                w = World(slack, http, workspaces, routes, engine, db_file)
                yield Volume(w, shared, schedulers, engine)
        finally:
            stop.set()
            await ticker
            schedulers.shutdown()
            await workspaces.aclose(timeout_s=5)
            await runner.cleanup()


async def _until(predicate: Callable[[], object], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


# -- one tick for the process ------------------------------------------------------------------


async def test_three_workspaces_share_one_tick_and_each_is_told_with_its_token(
    tmp_path: Path,
) -> None:
    async with volume(tmp_path) as v:
        w = v.world
        tokens = {team: await w.install(team) for team in TEAMS}
        for team in TEAMS:  # each workspace's first request builds its bot and scheduler
            listed = await w.command("list", team)
            assert WORKFLOW[team] in listed["text"]
        assert sorted(v.schedulers.by_team) == sorted(TEAMS)
        assert v.shared.shares == 3

        runs = {}
        for team in TEAMS:
            scheduling, _ = v.schedulers.by_team[team]
            slot = ScheduledRun(WORKFLOW[team], time.time(), 0, None, ALERTS[team])
            runs[team] = await scheduling.start_run(slot)
            assert runs[team] is not None
        began, ticked = time.monotonic(), v.engine.ticks
        await _until(lambda: [f.state for f in flips(v.engine.store.db)] == ["delivered"] * 3)
        elapsed = time.monotonic() - began

        # The engine was ticked by the shared ticker alone: once an interval, not once per
        # workspace; each run was stepped once a tick, by consecutive ticks, to its end.
        assert v.engine.ticks == v.shared.ticks
        assert v.engine.ticks - ticked <= elapsed / TICK_S + 2
        for team, run_id in runs.items():
            steps = v.engine.steps[run_id]
            assert len(steps) == STEPS, (team, steps)
            assert steps == list(range(steps[0], steps[0] + STEPS))

        # Each workspace's alert went to its channel, with its own token, once.
        for team in TEAMS:
            assert v.posted(ALERTS[team]) == {f"Bearer {tokens[team]}"}
            (alert,) = [
                c
                for c in w.slack.of("chat.postMessage")
                if c.params["channel"] == ALERTS[team] and "thread_ts" not in c.params
            ]
            assert alert.params["text"].startswith(f"❌ {WORKFLOW[team]}: dropped at")
        assert {f.workflow for f in flips(v.engine.store.db)} == set(WORKFLOW.values())

        # Each workspace's digest: its workflow, its channel, its token.
        for team in TEAMS:
            scheduling, _ = v.schedulers.by_team[team]
            (spec,) = scheduling.bot.config.slack.digests
            assert spec.workflows == (WORKFLOW[team],)
            assert await scheduling.post_digest(spec) is not None
            assert v.posted(DIGESTS[team]) == {f"Bearer {tokens[team]}"}
        w.assert_spec()


async def test_a_reinstalled_workspace_leaves_its_share_of_the_tick(tmp_path: Path) -> None:
    async with volume(tmp_path) as v:
        w = v.world
        await w.install(TEAMS[0])
        await w.command("list", TEAMS[0])
        (old, old_share) = v.schedulers.by_team[TEAMS[0]]
        await w.install(TEAMS[0], code="code-again")
        assert TEAMS[0] not in v.schedulers.by_team and v.shared.shares == 0
        assert not old.scheduler.running
        await w.command("list", TEAMS[0])
        (new, new_share) = v.schedulers.by_team[TEAMS[0]]
        assert new is not old and new_share is not old_share and v.shared.shares == 1


def test_a_share_keeps_its_workflows_results_only_and_a_bounded_number() -> None:
    share = TickShare({"mine"}, limit=3)
    made = [RunResult.__new__(RunResult) for _ in range(5)]
    for n, result in enumerate(made):
        object.__setattr__(result, "workflow", "mine" if n else "theirs")
        object.__setattr__(result, "run_id", f"r{n}")
    share.put(made)
    assert [r.run_id for r in share.take()] == ["r2", "r3", "r4"]  # the newest 3 of mine
    assert share.take() == []


async def test_a_scoped_engine_with_a_share_steps_nothing(tmp_path: Path) -> None:
    config = three_agencies(str(tmp_path / "i.db"))
    engine = SteppingEngine(config, store=Store(sqlite_utils.Database(memory=True)))
    shared = SharedTick(engine, every_s=TICK_S)
    mine = ScopedEngine(engine, {"newsletter"}, share=shared.join({"newsletter"}))
    run_id = await mine.start("newsletter")
    for _ in range(STEPS):
        assert await mine.tick() == []
    assert engine.ticks == 0
    for _ in range(STEPS):
        await shared.tick()
    assert [r.run_id for r in await mine.tick()] == [run_id]
    assert engine.ticks == STEPS
    # Without a share it is the engine's own tick, as before.
    assert await ScopedEngine(engine, {"newsletter"}).tick() == []
    assert engine.ticks == STEPS + 1


# -- nothing kept per workspace that merely asked ------------------------------------------------


async def test_requests_from_many_uninstalled_workspaces_leave_nothing_behind(
    tmp_path: Path,
) -> None:
    async with volume(tmp_path) as v:
        w = v.world
        await w.install(TEAMS[0])

        async def ask(team: str) -> dict[str, Any]:
            body = slash_body("list", team_id=team)
            reply = await w.http.post(
                "/slack/events", content=body, headers=signed_headers(SECRET, body)
            )
            assert reply.status_code == 200
            return dict(reply.json())

        strangers = [f"T0STRANGER{n:03d}" for n in range(150)]
        answers = await asyncio.gather(*(ask(team) for team in strangers))
        assert {a["text"].split(" (")[0] for a in answers} == {
            "Baton is not installed in this workspace"
        }
        listed = await asyncio.gather(*(ask(TEAMS[0]) for _ in range(5)))
        assert all("lead-to-invoice" in a["text"] for a in listed)
        assert list(w.workspaces.bots) == [TEAMS[0]]
        assert w.workspaces._building == {}  # builds under way only, none left
        assert list(v.schedulers.by_team) == [TEAMS[0]]
        assert len(w.slack.of("auth.test")) == 2  # the install's, and one bot built once


# -- one channel for every workspace ---------------------------------------------------------------


def test_with_oauth_a_default_channel_is_refused_naming_what_to_do_instead() -> None:
    two = CONFIG.replace("  other:\n", "  other:\n    workspace: T0B\n")
    text = two % (TEAMS[0], "  oauth: {}\n  default_channel: C0ALERTS")
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, path="b.yaml", env=ENV)
    assert str(caught.value).splitlines() == [
        "b.yaml:17: slack.default_channel: with slack.oauth a channel belongs to one workspace, "
        "and this one would take the alerts of every workspace: remove it, and give each "
        "schedule its channel (workflows.<name>.schedule.channel) and each digest its own "
        "(slack.digests[].channel)"
    ]
    # A channel per schedule is fine; so is a default channel with one bot token.
    scheduled = two.replace(
        "    workspace: T0B\n", "    workspace: T0B\n    schedule: {every: 15m, channel: C0B}\n"
    )
    config = load_config_text(scheduled % (TEAMS[0], "  oauth: {}"), path="b.yaml", env=ENV)
    assert config.workflows["other"].schedule is not None
    single = load_config_text(
        two % (TEAMS[0], "  default_channel: C0ALERTS"), path="b.yaml", env=ENV
    )
    assert single.slack.default_channel == "C0ALERTS"
