"""The App Home: every workflow with its state (ok, leaking, could not check; its alert
snooze, who snoozed it and until when; its schedule paused), last run, next scheduled run,
7-day leak rate and a Run button (``home_run``, handled in :mod:`baton.bot.run_ui`).

``app_home_opened`` (the Home tab) publishes it for that user (``views.publish``) at once and
notes who opened it (``bot_home_views``). Whenever it may have changed (any run ended:
scheduled, ``/baton run``, a Re-run, the Home's own Run; an alert acknowledged or snoozed),
``refresh`` publishes it again for whoever in this workspace opened it in the last 30 days
(at most 50 people; the store may be shared by several workspaces' bots),
debounced: a refresh waits ``settle_s`` (0.5 s) for more changes, and comes at least
``refresh_every_s`` (5 s) after the one before; every change meanwhile is in that one
publish, so each user gets at most one refresh publish per interval however many runs end
together. Its blocks are
:func:`baton.bot.blocks.run_ui.home_view`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from slack_bolt.app.async_app import AsyncApp

from baton.probes.health.schedule import specs_from_config
from baton.probes.store.snoozes import active_snooze

from .actions import USER_ID, text_at
from .blocks.run_ui import HomeRow, home_view
from .reporter import new_error_id
from .scheduler import schedule_rows
from .slack_api import SlackCallError

if TYPE_CHECKING:
    from .app import Bot

log = logging.getLogger("bot.home")

DAY_S = 86_400.0
#: Whose App Home is published again after a run: those who opened it lately, at most so many.
HOME_FRESH_S = 30 * DAY_S
HOME_MAX_USERS = 50
LEAK_PERIOD_S = 7 * DAY_S
#: At most one refresh publish per user this often (seconds).
HOME_REFRESH_S = 5.0
#: How long a refresh waits for more changes before it is built (a tick ends many runs, and
#: alerting records each of them moments later: one publish for all).
HOME_SETTLE_S = 0.5


class Home:
    """The App Home of every user who opens it."""

    def __init__(
        self,
        bot: Bot,
        *,
        refresh_every_s: float = HOME_REFRESH_S,
        settle_s: float = HOME_SETTLE_S,
    ) -> None:
        self.bot = bot
        self.refresh_every_s = refresh_every_s
        self.settle_s = settle_s
        self._last_refresh: float | None = None  # time.monotonic() of the last one
        self._pending = False  # a refresh is asked for and its view not built yet

    def register(self, app: AsyncApp) -> None:
        app.event("app_home_opened")(self._on_opened)

    @property
    def command(self) -> str:
        return self.bot.settings.command

    async def _on_opened(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        if text_at(event, "tab") != "home":
            return
        user, team = text_at(event, "user"), text_at(body, "team_id")
        ours = self.bot.team_id
        if not USER_ID.match(user) or (ours and team != ours):
            log.warning("ignored app_home_opened for %r of team %r", user[:40], team[:40])
            return
        self.bot.store.home_opened(user, team, self.bot.clock())
        self.bot.start_soon(self.publish([user]))

    def home_rows(self) -> list[HomeRow]:
        """Every workflow's state, last run, next scheduled run and 7-day leak rate."""
        config, now, db = self.bot.config, self.bot.now().timestamp(), self.bot.store.db
        last = self.bot.engine.store.last_verdicts()
        schedules = {r.spec.workflow: r for r in schedule_rows(specs_from_config(config), db, now)}
        digest = self.bot.digests.build(period_s=LEAK_PERIOD_S)
        rates = {wf.workflow: wf for wf in digest.workflows}
        rows = []
        for name in sorted(config.workflows):
            sched, rate = schedules.get(name), rates.get(name)
            rows.append(
                HomeRow(
                    workflow=name,
                    last=last.get(name),
                    scheduled=sched is not None,
                    paused=bool(sched and sched.paused),
                    next_ts=sched.next_ts if sched else None,
                    leak_words=rate.estimate.words if rate and rate.estimate.checked else None,
                    runs_7d=rate.runs if rate else 0,
                    snooze=sched.snooze if sched else active_snooze(db, name, now),
                )
            )
        return rows

    async def publish(self, users: list[str]) -> None:
        """Publish the App Home to ``users`` (one view, built once)."""
        if not users:
            return
        view = home_view(self.home_rows(), self.bot.now(), command=self.command)
        for user in users:
            try:
                await self.bot.api.publish_home(user, view)
            except SlackCallError as exc:
                self.bot.reporter.log_slack_error(exc)

    async def refresh(self) -> None:
        """The App Home may have changed: publish it again soon for whoever opened it lately
        (debounced, see the module docstring); returns at once."""
        self.refresh_soon()

    def refresh_soon(self) -> None:
        """As :meth:`refresh`, from code that is not a coroutine (a run's end, a press)."""
        if self._pending:
            return  # the refresh asked for already will show this change too
        try:
            if not self._viewers(1):
                return  # nobody to publish for: no timer either
        except Exception:
            log.exception("%s: reading who opened the App Home failed", new_error_id())
            return
        self.bot.spawn(self._refresh_later())
        self._pending = True  # before the task first runs: no await in between

    def _viewers(self, limit: int) -> list[str]:
        """Who opened this workspace's App Home lately (a bot that does not know its
        workspace yet publishes to nobody: the store may hold other workspaces' people)."""
        team = self.bot.team_id
        if not team:
            return []
        return self.bot.store.home_viewers(team, self.bot.clock() - HOME_FRESH_S, limit)

    async def _refresh_later(self) -> None:
        try:
            wait = self.settle_s
            if self._last_refresh is not None:
                wait = max(wait, self._last_refresh + self.refresh_every_s - time.monotonic())
            if wait > 0:
                await asyncio.sleep(wait)
        finally:
            self._pending = False  # from here on, a change needs a refresh of its own
        self._last_refresh = time.monotonic()
        try:
            await self.publish(self._viewers(HOME_MAX_USERS))
        except Exception:
            log.exception("%s: refreshing the App Home failed", new_error_id())


__all__ = [
    "HOME_FRESH_S",
    "HOME_MAX_USERS",
    "HOME_REFRESH_S",
    "HOME_SETTLE_S",
    "LEAK_PERIOD_S",
    "Home",
]
