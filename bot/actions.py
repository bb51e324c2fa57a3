"""Every interaction (``block_actions``, ``view_submission``, ``shortcut``): who may act,
once, and written down.

Every control Baton puts on a message, a modal or the App Home goes through one ``ActionGate``
before it acts, the same checks a slash command passes (``baton.bot.app``):

1. the payload is read defensively (``Press.of`` / ``Press.read``): every field may be
   missing, of the wrong type or forged; a malformed press is refused, never a traceback;
2. a press from another workspace (``team.id``) is refused, as commands are, and so is one
   that does not say who pressed (a user ID) or where (a channel ID, or the user's DM);
3. ``slack.allowed_users`` and ``slack.allowed_channels`` apply, as to commands (``to``: where
   the press acts or reports; a DM is not among the allowed channels);
4. the press is claimed once: Slack's retry of the same press (same ``action_ts``, or the same
   ``trigger_id`` where there is no ``action_ts``) and a double click on a button (the same
   control, by the same person, on the same message, within ``dedupe_window_s``) act once;
   a caller adds its own keys (``run_keys``: an identical run, to the same place, once);
5. every press is recorded in ``action_presses`` (when, who, where, which control, its value,
   what it was about, and the outcome: ``done``, ``started``, ``opened``, ``duplicate``,
   ``refused``, ``invalid``, ``malformed``, ``unknown``, ``closed``, ``failed``, ``error``),
   kept ``KEEP_PRESSES_S`` (90 days).

    gate = ActionGate(store=bot_store, allowed_users=(...), team=lambda: "T0123")
    press = Press.read(body, action)          # None: malformed (recorded, refused politely)
    verdict = gate.admit(press, subject="flip:12")
    if verdict.refusal is not None: tell the presser; elif verdict.fresh: act

The pieces ``admit`` is made of (``refusal``, ``keys`` and ``claim``, ``record``) are public
for flows that check their values between the refusal and the claim (``baton.bot.run_ui``).
Action ids are prefixed by family (``alert_`` for alerts, ``run_``/``home_`` for runs) and
each family keeps its handlers in its own module (``baton.bot.alert_actions``,
``baton.bot.run_ui``). Over Socket Mode the same payloads arrive in ``interactive`` envelopes
and pass the same gate.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from baton.probes.store.bot import BotStore
from baton.probes.store.presses import done_presses, record_press, set_press_outcome

from .blocks import replies
from .blocks.run import Message
from .commands import Run
from .slack_api import trusted_response_url

log = logging.getLogger("bot.actions")

#: The same control pressed again by the same person on the same message within this many
#: seconds is a double click.
DEDUPE_WINDOW_S = 10.0
#: Slack's IDs and timestamps are short; anything longer is not from Slack.
_MAX_FIELD = 255
#: Where a run started from Slack's UI reports when it has no channel: the user's DM.
DM = "dm"
USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}\Z")
CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,30}\Z")


def _text(value: Any, limit: int = _MAX_FIELD) -> str:
    """A short single-line string, or "" for anything else."""
    if not isinstance(value, str) or len(value) > limit or "\n" in value:
        return ""
    return value


def dig(body: Any, *keys: str) -> Any:
    """``body[k1][k2]…``, or None where a level is missing or not a mapping (payloads may be
    forged: never raises)."""
    value: Any = body
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def text_at(body: Any, *keys: str) -> str:
    """The string at ``body[k1][k2]…``, or "" for anything else (any length, newlines kept)."""
    value = dig(body, *keys)
    return value if isinstance(value, str) else ""


def is_retry(headers: Mapping[str, Any] | None) -> bool:
    """Whether Slack says this is its retry (``X-Slack-Retry-Num``; over Socket Mode bolt
    copies the envelope's ``retry_attempt`` into the same header)."""
    if not isinstance(headers, Mapping):
        return False
    value = headers.get("x-slack-retry-num")
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    return bool(value)


@dataclass(frozen=True)
class Press:
    """One press of one control, one modal submission or one shortcut, as read from its
    payload; a field Slack did not send (or sent forged) is ``""``."""

    action_id: str  # the control's action_id; a modal's or shortcut's callback_id
    value: str  # the button's value, or the chosen option's value of a menu
    user: str
    team: str
    channel: str  # "" on the App Home, in a modal, for a global shortcut
    message_ts: str
    action_ts: str
    response_url: str | None
    kind: str = "block_actions"  # or view_submission, shortcut, command
    trigger_id: str = ""
    view_id: str = ""
    retry: bool = False  # Slack's retry of a request it sent before

    @classmethod
    def of(
        cls, body: Any, action: Any = None, *, retry: bool = False, api_url: str | None = None
    ) -> Press:
        """Every field Baton reads, each "" when missing or malformed (never raises).
        ``response_url`` only when Slack could have issued it (``trusted_response_url``;
        ``api_url``: ``slack.api_url``, whose host may issue them too)."""
        body = body if isinstance(body, Mapping) else {}
        action = action if isinstance(action, Mapping) else {}
        kind = _text(body.get("type"))
        value = action.get("value")
        if value is None:
            value = dig(action, "selected_option", "value")
        url = trusted_response_url(body.get("response_url"), api_url=api_url)
        if kind == "view_submission":
            action_id = _text(dig(body, "view", "callback_id"))
        elif kind == "shortcut":
            action_id = _text(body.get("callback_id"))
        else:
            action_id = _text(action.get("action_id"))
        return cls(
            action_id=action_id,
            value=_text(value),
            user=_text(dig(body, "user", "id")),
            team=_text(dig(body, "team", "id")) or _text(dig(body, "user", "team_id")),
            channel=_text(dig(body, "container", "channel_id"))
            or _text(dig(body, "channel", "id")),
            message_ts=_text(dig(body, "container", "message_ts"))
            or _text(dig(body, "message", "ts")),
            action_ts=_text(action.get("action_ts")) or _text(body.get("action_ts")),
            response_url=url,
            kind=kind or "block_actions",
            trigger_id=_text(body.get("trigger_id")),
            view_id=_text(dig(body, "view", "id")),
            retry=retry,
        )

    @classmethod
    def read(cls, body: Any, action: Any, *, api_url: str | None = None) -> Press | None:
        """A press of a control on a message, or None when a field Baton needs is missing or
        malformed (which control, who, and the message it is on)."""
        if not isinstance(body, Mapping) or not isinstance(action, Mapping):
            return None
        press = cls.of(body, action, api_url=api_url)
        needed = (press.action_id, press.user, press.channel, press.message_ts)
        return press if all(needed) else None


@dataclass(frozen=True)
class Admission:
    """What the gate made of a press: refused (with what to tell the presser), a repeat of
    one already acted on, or fresh (act on it)."""

    fresh: bool
    refusal: Message | None = None
    outcome: str = "done"


class ActionGate:
    """The checks every press passes before it acts; see the module docstring."""

    def __init__(
        self,
        *,
        store: BotStore,
        allowed_users: tuple[str, ...] = (),
        allowed_channels: tuple[str, ...] = (),
        command: str = "/baton",
        team: Callable[[], str | None] = lambda: None,
        clock: Callable[[], float] = time.time,
        dedupe_window_s: float = DEDUPE_WINDOW_S,
    ) -> None:
        self.store = store
        self.db = store.db
        self.allowed_users = allowed_users
        self.allowed_channels = allowed_channels
        self.command = command
        self.team = team
        self.clock = clock
        self.dedupe_window_s = dedupe_window_s

    # -- who may act -------------------------------------------------------------------------

    def allowed(self, user: str, channel: str) -> Message | None:
        """``slack.allowed_users`` and ``slack.allowed_channels`` (by ID: a channel's name can
        be changed by anyone in it, its ID cannot): what to tell a refused user, or None."""
        if self.allowed_users and user not in self.allowed_users:
            return replies.refused_user(user, self.command)
        if self.allowed_channels and channel not in self.allowed_channels:
            return replies.refused_channel(self.allowed_channels, self.command)
        return None

    def refusal(self, press: Press, *, to: str | None = None) -> tuple[str, Message] | None:
        """Why this press may not act (the outcome to record, what to tell), or None.

        ``to``: where it acts or reports, when not the channel it was pressed in (a channel
        ID, or ``DM`` for the user's DM with Baton)."""
        ours = self.team()
        if ours and press.team != ours:
            log.warning("refused %s from team %s: the bot serves team %s", press.action_id,
                        press.team or "?", ours)  # fmt: skip
            return "refused", replies.other_workspace(self.command)
        if not USER_ID.match(press.user):
            return "invalid", Message(text="Slack did not say who you are.")
        if self.allowed_users and press.user not in self.allowed_users:
            return "refused", replies.refused_user(press.user, self.command)
        where = press.channel if to is None else to
        if where == DM:
            if self.allowed_channels:
                return "refused", replies.refused_dm(self.allowed_channels, self.command)
            return None
        if not CHANNEL_ID.match(where):
            return "invalid", Message(text="Slack did not say which channel this is in.")
        refused = self.allowed(press.user, where)
        return ("refused", refused) if refused is not None else None

    # -- once --------------------------------------------------------------------------------

    def keys(
        self, press: Press, extra: Mapping[str, float | None] | None = None
    ) -> dict[str, float | None]:
        """The claim keys of a press (its retry, a double click) and the caller's ``extra``."""
        where = [press.team, press.user, press.channel, press.message_ts, press.action_id]
        keys: dict[str, float | None] = dict(extra or {})
        once = press.action_ts or press.trigger_id
        if once:  # Slack's retry of this very press
            keys[f"press:{_digest([*where, once])}"] = None
        if press.kind == "block_actions":  # a button pressed twice
            keys[f"press-window:{_digest([*where, press.value])}"] = self.dedupe_window_s
        return keys

    def claim(self, keys: Mapping[str, float | None]) -> bool:
        """Claim every key at once (see ``BotStore.claim``): False when any was claimed."""
        return self.store.claim(keys)

    def run_keys(
        self, *, team: str, user: str, channel: str, trigger: str | None, run: Run
    ) -> dict[str, float | None]:
        """The keys of a run request (a command, a press, a submission): its ``trigger_id``
        once, and the same run (workflow, variant, overrides) by the same person to the same
        place once within ``dedupe_window_s``. ``run``'s workflow is its canonical name.
        """
        keys: dict[str, float | None] = {}
        if trigger:
            keys[f"trigger:{trigger}"] = None
        what = [team, user, channel, run.workflow, run.variant, sorted(run.overrides.items())]
        digest = hashlib.sha256(json.dumps(what, ensure_ascii=False).encode()).hexdigest()
        keys[f"submit:{digest[:32]}"] = self.dedupe_window_s
        return keys

    def run_for(self, keys: Sequence[str]) -> str | None:
        """The run an earlier claim of these keys started, if it got that far."""
        return self.store.run_for(list(keys))

    # -- all at once -------------------------------------------------------------------------

    def admit(self, press: Press, *, subject: str) -> Admission:
        """Check, claim and record one press (see the module docstring)."""
        refused = self.refusal(press)
        if refused is not None:
            outcome, message = refused
            self.record(press, subject=subject, outcome=outcome)
            return Admission(fresh=False, refusal=message, outcome=outcome)
        if not self.claim(self.keys(press)):
            log.info("ignored a repeated %s from %s on %s", press.action_id, press.user, subject)
            self.record(press, subject=subject, outcome="duplicate")
            return Admission(fresh=False, outcome="duplicate")
        self.record(press, subject=subject, outcome="done")
        return Admission(fresh=True)

    # -- the record --------------------------------------------------------------------------

    def record(
        self,
        press: Press | None,
        *,
        subject: str | None,
        outcome: str,
        channel: str | None = None,
    ) -> int:
        """Write one press down (``press`` None: a payload too malformed to read; ``channel``:
        where it acted, when not where it was pressed, e.g. ``DM``)."""
        if press is None:
            return record_press(self.db, at=self.clock(), action_id="?", outcome=outcome)
        return record_press(
            self.db,
            at=self.clock(),
            team=press.team,
            user=press.user,
            channel=channel if channel is not None else press.channel or None,
            message_ts=press.message_ts or None,
            action_id=press.action_id or "?",
            action_ts=press.action_ts or None,
            value=press.value,
            subject=subject,
            outcome=outcome,
        )

    def set_outcome(self, press_id: int, outcome: str) -> None:
        """A press admitted as ``done`` that could not act after all."""
        set_press_outcome(self.db, press_id, outcome)

    def pressed_before(self, *, user: str, action_id: str, subject: str) -> bool:
        """Whether ``user`` already acted with this control on this subject."""
        done = done_presses(self.db, action_id=action_id, subject=subject)
        return done.count(user) > 1  # the press being handled is recorded already

    def presses(self, *, action_id: str, subject: str) -> list[str]:
        """Who acted with this control on this subject, first press first, once each."""
        return list(dict.fromkeys(done_presses(self.db, action_id=action_id, subject=subject)))


def _digest(parts: list[str]) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


__all__ = [
    "CHANNEL_ID",
    "DEDUPE_WINDOW_S",
    "DM",
    "USER_ID",
    "ActionGate",
    "Admission",
    "Press",
    "is_retry",
]
