"""Button presses (``block_actions``): who may press, once, and written down.

Every control Baton puts on a message goes through one ``ActionGate`` before it acts, the
same checks a slash command passes (``baton.bot.app``):

1. the payload is read defensively (``Press.read``): every field may be missing, of the wrong
   type or forged; a malformed press is refused, never a traceback;
2. a press from another workspace (``team.id``) is refused, as commands are;
3. ``slack.allowed_users`` and ``slack.allowed_channels`` apply, as to commands;
4. the press is claimed once: Slack's retry of the same press (same ``action_ts``) and a double
   click (the same control, by the same person, on the same message, within
   ``dedupe_window_s``) act once;
5. every press is recorded in ``action_presses`` (when, who, where, which control, its value,
   what it was about, and the outcome: ``done``, ``duplicate``, ``refused``, ``malformed``,
   ``unknown``, ``closed``, ``failed``).

    gate = ActionGate(store=bot_store, settings=settings, team=lambda: "T0123")
    press = Press.read(body, action)          # None: malformed (recorded, refused politely)
    verdict = gate.admit(press, subject="flip:12")
    if verdict.refusal is not None: tell the presser; elif verdict.fresh: act

Action ids are prefixed by family (``alert_`` for alerts) and each family keeps its handlers
in its own module (``baton.bot.alert_actions``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from baton.probes.store.bot import BotStore
from baton.probes.store.presses import done_presses, record_press, set_press_outcome

from .blocks import replies
from .blocks.run import Message

log = logging.getLogger("bot.actions")

#: The same control pressed again by the same person on the same message within this many
#: seconds is a double click.
DEDUPE_WINDOW_S = 10.0
#: Slack's IDs and timestamps are short; anything longer is not from Slack.
_MAX_FIELD = 255


def _text(value: Any, limit: int = _MAX_FIELD) -> str:
    """A short single-line string, or "" for anything else."""
    if not isinstance(value, str) or len(value) > limit or "\n" in value:
        return ""
    return value


def _get(body: Mapping[str, Any], *keys: str) -> Any:
    value: Any = body
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


@dataclass(frozen=True)
class Press:
    """One press of one control, as read from a ``block_actions`` payload."""

    action_id: str
    value: str  # the button's value, or the chosen option's value of a menu
    user: str
    team: str
    channel: str
    message_ts: str
    action_ts: str
    response_url: str | None

    @classmethod
    def read(cls, body: Any, action: Any) -> Press | None:
        """The press, or None when a field Baton needs is missing or malformed."""
        if not isinstance(body, Mapping) or not isinstance(action, Mapping):
            return None
        value = action.get("value")
        if value is None:
            value = _get(action, "selected_option", "value")
        url = _text(body.get("response_url"), 2000)
        press = cls(
            action_id=_text(action.get("action_id")),
            value=_text(value),
            user=_text(_get(body, "user", "id")),
            team=_text(_get(body, "team", "id")) or _text(_get(body, "user", "team_id")),
            channel=_text(_get(body, "container", "channel_id"))
            or _text(_get(body, "channel", "id")),
            message_ts=_text(_get(body, "container", "message_ts"))
            or _text(_get(body, "message", "ts")),
            action_ts=_text(action.get("action_ts")),
            response_url=url if url.startswith(("https://", "http://")) else None,
        )
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

    def refusal(self, press: Press) -> tuple[str, Message] | None:
        """Why this press may not act (the outcome to record, what to tell), or None."""
        ours = self.team()
        if ours and press.team != ours:
            log.warning("refused %s from team %s: the bot serves team %s", press.action_id,
                        press.team or "?", ours)  # fmt: skip
            return "refused", replies.other_workspace(self.command)
        if self.allowed_users and press.user not in self.allowed_users:
            return "refused", replies.refused_user(press.user, self.command)
        if self.allowed_channels and press.channel not in self.allowed_channels:
            return "refused", replies.refused_channel(self.allowed_channels, self.command)
        return None

    def admit(self, press: Press, *, subject: str) -> Admission:
        """Check, claim and record one press (see the module docstring)."""
        refused = self.refusal(press)
        if refused is not None:
            outcome, message = refused
            self.record(press, subject=subject, outcome=outcome)
            return Admission(fresh=False, refusal=message, outcome=outcome)
        if not self.store.claim(self._keys(press)):
            log.info("ignored a repeated %s from %s on %s", press.action_id, press.user, subject)
            self.record(press, subject=subject, outcome="duplicate")
            return Admission(fresh=False, outcome="duplicate")
        self.record(press, subject=subject, outcome="done")
        return Admission(fresh=True)

    def _keys(self, press: Press) -> dict[str, float | None]:
        where = [press.team, press.user, press.channel, press.message_ts, press.action_id]
        keys: dict[str, float | None] = {}
        if press.action_ts:  # Slack's retry of this very press
            digest = _digest([*where, press.action_ts])
            keys[f"press:{digest}"] = None
        keys[f"press-window:{_digest([*where, press.value])}"] = self.dedupe_window_s
        return keys

    def record(self, press: Press | None, *, subject: str | None, outcome: str) -> int:
        """Write one press down (``press`` None: a payload too malformed to read)."""
        if press is None:
            return record_press(self.db, at=self.clock(), action_id="?", outcome=outcome)
        return record_press(
            self.db,
            at=self.clock(),
            team=press.team,
            user=press.user,
            channel=press.channel,
            message_ts=press.message_ts,
            action_id=press.action_id,
            action_ts=press.action_ts,
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


__all__ = ["DEDUPE_WINDOW_S", "ActionGate", "Admission", "Press"]
