"""Parse the text after the slash command into a typed command. Never raises.

    >>> parse_command('run lead-to-invoice paypal first_name=“Zoë Ann”')
    Run(workflow='lead-to-invoice', variant='paypal', overrides={'first_name': 'Zoë Ann'})
    >>> parse_command("histroy")
    Help(problem="unknown command 'histroy' (did you mean 'history'?)")

People type slash commands on phones and Macs that turn quotes into “smart quotes” and
apostrophes into ’, paste non-breaking spaces, and forget to close a quote. ``split_args``
accepts all of that. It is shell-like but deliberately not ``shlex``: a shell reads the
apostrophe in ``last_name=O'Brien`` as an open quote and swallows the rest of the line.
Here a quote only opens at the start of a word or of a value (after ``=``), and only
closes at the end of a word; anywhere else it is just a character. A quote that never
closes is dropped, and the words after it are read one by one.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass, field

from baton.probes.config import DEFAULT_DIGEST_PERIOD_S, MAX_PERIOD_S
from baton.probes.config.messages import did_you_mean, shown, span
from baton.probes.config.values import parse_duration, parse_period

#: Longest command text we read; Slack itself sends at most a few thousand characters.
MAX_TEXT = 4000
DEFAULT_HISTORY = 10
MAX_HISTORY = 50

#: Opening quote -> the characters that may close it (autocorrect mixes them up).
_PAIRS: dict[str, str] = {
    '"': '"',
    "'": "'",
    "“": '”“"',
    "”": '”"',
    "„": '“”"',
    "‘": "’‘'",
    "’": "’'",
    "‚": "‘’'",
    "«": "»",
    "‹": "›",
}
_CLOSERS = frozenset("".join(_PAIRS.values()))
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
#: A record field name as ``field=value`` may name it (``--set`` reads the same).
FIELD_NAME = re.compile(r"[^\W\d]\w*\Z")

_ALIASES = {
    "run": "run",
    "probe": "run",
    "list": "list",
    "ls": "list",
    "workflows": "list",
    "status": "status",
    "history": "history",
    "hist": "history",
    "help": "help",
    "?": "help",
    "-h": "help",
    "--help": "help",
    "schedule": "schedule",
    "schedules": "schedule",
    "pause": "pause",
    "resume": "resume",
    "digest": "digest",
}
SUBCOMMANDS = ("run", "list", "status", "history", "schedule", "pause", "resume", "digest", "help")


def subcommand(word: str) -> str | None:
    """The sub-command a word names, aliases included (``probe`` is ``run``), or None.

    >>> subcommand("Probe"), subcommand("histroy")
    ('run', None)
    """
    return _ALIASES.get(word.casefold())


@dataclass(frozen=True)
class Run:
    """``run WORKFLOW [variant] [field=value ...]``."""

    workflow: str
    variant: str | None = None
    overrides: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ListWorkflows:
    """``list``: the workflows and their last verdicts."""


@dataclass(frozen=True)
class Status:
    """``status [WORKFLOW]``."""

    workflow: str | None = None


@dataclass(frozen=True)
class History:
    """``history WORKFLOW [N]``."""

    workflow: str
    limit: int = DEFAULT_HISTORY


@dataclass(frozen=True)
class Schedules:
    """``schedule``: every scheduled workflow, its next run, paused or not."""


@dataclass(frozen=True)
class Pause:
    """``pause WORKFLOW`` (``resume`` is ``Pause(workflow, paused=False)``)."""

    workflow: str
    paused: bool = True


@dataclass(frozen=True)
class PostDigest:
    """``digest [WORKFLOW] [PERIOD]``: the health digest, posted in the channel."""

    workflow: str | None = None
    period_s: float = DEFAULT_DIGEST_PERIOD_S


@dataclass(frozen=True)
class Help:
    """``help``, and the answer to anything we could not read (``problem`` says why)."""

    problem: str | None = None


Command = Run | ListWorkflows | Status | History | Schedules | Pause | PostDigest | Help


def clean_text(text: str) -> str:
    """Undo Slack's HTML escaping; every kind of space becomes one ASCII space."""
    text = text[:MAX_TEXT].replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    text = text.translate(_ZERO_WIDTH)
    out = []
    for ch in text:
        if ch.isspace():
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cs"):
            continue  # control characters and lone surrogates cannot be meant
        else:
            out.append(ch)
    return "".join(out).strip()


def split_args(text: str) -> list[str]:
    """Split command text into words, honouring quotes (straight, smart or guillemets).

    >>> split_args('run  x first_name=“Zoë Ann”  last_name=O’Brien')
    ['run', 'x', 'first_name=Zoë Ann', 'last_name=O’Brien']
    """
    text = clean_text(text)
    n = len(text)
    # Every place a quote could close: a closing character at the end of a word.
    closing = [
        j for j, ch in enumerate(text) if ch in _CLOSERS and (j + 1 == n or text[j + 1] == " ")
    ]
    words: list[str] = []
    i = 0
    while i < n:
        if text[i] == " ":
            i += 1
            continue
        word = ""
        while i < n and text[i] != " ":
            ch = text[i]
            at_value = word == "" or (word.endswith("=") and word.count("=") == 1)
            if at_value and ch in _PAIRS:
                end = _closing_after(text, closing, i, _PAIRS[ch])
                if end is not None:
                    word += text[i + 1 : end]
                    i = end + 1
                    continue
                i += 1  # a quote that never closes: drop it
                continue
            word += ch
            i += 1
        words.append(word)
    return [w for w in words if w != ""]


def _closing_after(text: str, closing: list[int], start: int, closers: str) -> int | None:
    k = bisect.bisect_right(closing, start)
    while k < len(closing):
        j = closing[k]
        if text[j] in closers:
            return j
        k += 1
    return None


def parse_command(text: str) -> Command:
    """Read one slash-command text. Problems come back as ``Help(problem=...)``."""
    words = split_args(text)
    if not words:
        return Help()
    head = words[0].casefold()
    sub = _ALIASES.get(head)
    args = words[1:]
    if sub is None:
        return Help(problem=f"unknown command {shown(words[0])}{did_you_mean(head, SUBCOMMANDS)}")
    if sub == "help":
        return Help()
    if sub == "list":
        return ListWorkflows()
    if sub == "status":
        if len(args) > 1:
            return Help(problem=f"status takes one workflow at most, not {len(args)} words")
        return Status(workflow=args[0] if args else None)
    if sub == "history":
        return _history(args)
    if sub == "schedule":
        return _schedule(args)
    if sub in ("pause", "resume"):
        return _pause(sub, args)
    if sub == "digest":
        return _digest(args)
    return _run(args)


def _schedule(args: list[str]) -> Command:
    """``schedule``; also ``schedule pause|resume WORKFLOW``, as in the CLI."""
    if not args or (len(args) == 1 and args[0].casefold() == "list"):
        return Schedules()
    if args[0].casefold() in ("pause", "resume"):
        return _pause(args[0].casefold(), args[1:])
    return Help(problem="schedule lists the schedules; to stop one: pause WORKFLOW")


def _pause(sub: str, args: list[str]) -> Command:
    if len(args) != 1:
        return Help(problem=f"{sub} takes one workflow: {sub} WORKFLOW")
    return Pause(workflow=args[0], paused=sub == "pause")


def _digest(args: list[str]) -> Command:
    usage = "digest [WORKFLOW] [PERIOD], e.g. digest lead-to-invoice 7d"
    if len(args) > 2:
        return Help(problem=f"digest takes a workflow and a period at most: {usage}")
    workflow: str | None = None
    period: float | None = None
    out_of_range = f"digest: the period must be more than 0 and at most {span(MAX_PERIOD_S)}"
    for word in args:
        seconds = parse_period(word)
        if seconds is None and word.isascii() and parse_duration(word) is not None:
            return Help(problem=out_of_range)  # a period, but 0 or negative
        if seconds is None and workflow is None:
            workflow = word
        elif seconds is not None and period is None:
            period = seconds
        else:
            return Help(
                problem=f"digest: {shown(word)} is not a period such as 7d, 24h or 2w: {usage}"
            )
    if period is not None and period > MAX_PERIOD_S:
        return Help(problem=out_of_range)
    return PostDigest(workflow=workflow, period_s=period or DEFAULT_DIGEST_PERIOD_S)


def _history(args: list[str]) -> Command:
    if not args:
        return Help(problem="history needs a workflow: history WORKFLOW [N]")
    if len(args) > 2:
        return Help(problem="history takes a workflow and a number: history WORKFLOW [N]")
    limit = DEFAULT_HISTORY
    if len(args) == 2:
        raw = unicodedata.normalize("NFKC", args[1])
        if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
            return Help(
                problem=f"history: N must be a whole number of 1 or more, not {shown(args[1])}"
            )
        limit = min(int(raw), MAX_HISTORY)
    return History(workflow=args[0], limit=limit)


def _run(args: list[str]) -> Command:
    if not args or "=" in args[0]:
        return Help(problem="run needs a workflow: run WORKFLOW [variant] [field=value ...]")
    workflow, rest = args[0], args[1:]
    variant: str | None = None
    if rest and "=" not in rest[0]:
        variant, rest = rest[0], rest[1:]
    overrides: dict[str, str] = {}
    for word in rest:
        key, sep, value = word.partition("=")
        if not sep:
            return Help(
                problem=f"unexpected {shown(word)}: give fields as field=value, and put a value "
                'with spaces in quotes: first_name="Zoë Ann"'
            )
        key = key.strip().casefold()
        if not FIELD_NAME.match(key):
            return Help(
                problem=f"{shown(word)}: a field name is letters, digits and _, e.g. first_name"
            )
        overrides[key] = value
    return Run(workflow=workflow, variant=variant, overrides=overrides)


__all__ = [
    "FIELD_NAME",
    "Command",
    "Help",
    "History",
    "ListWorkflows",
    "Pause",
    "PostDigest",
    "Run",
    "Schedules",
    "Status",
    "parse_command",
    "split_args",
    "subcommand",
]
