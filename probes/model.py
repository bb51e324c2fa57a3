"""The results of a probe run: findings, stage results, the run result and its JSON form.

The JSON form (``RunResult.to_json()``) is a public interface: ``baton run --json`` prints it
and users' CI scripts read it. Change it only on purpose, with a CHANGELOG entry.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


class FindingKind(enum.StrEnum):
    MISSING = "missing"
    LATE = "late"
    DUPLICATE = "duplicate"
    SWAPPED = "swapped"
    REFORMATTED = "reformatted"
    TRUNCATED = "truncated"
    ENCODING = "encoding"
    WRONG_VALUE = "wrong_value"
    UNEXPECTED = "unexpected"
    UNREACHABLE = "unreachable"


class Verdict(enum.StrEnum):
    OK = "ok"
    LEAK = "leak"
    ERROR = "error"


#: Stage status values besides the finding kinds.
STATUS_OK = "ok"
STATUS_PENDING = "pending"
#: Downstream of a stage where the record never arrived: nothing to check there.
STATUS_SKIPPED = "skipped"


@dataclass(frozen=True)
class Finding:
    """One thing wrong at one stage, with the evidence."""

    kind: FindingKind
    message: str
    fields: tuple[str, ...] = ()
    expected: dict[str, Any] = field(default_factory=dict)
    observed: dict[str, Any] = field(default_factory=dict)
    #: Not a break of its own: the seam whose break (or whose stage that could not be
    #: checked) it follows from, e.g. ``"Form → CRM"`` (see ``diagnosis.localise``).
    consequence_of: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {
            "kind": str(self.kind),
            "fields": list(self.fields),
            "expected": self.expected,
            "observed": self.observed,
            "message": self.message,
        }
        if self.consequence_of is not None:
            out["consequence_of"] = self.consequence_of
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        return cls(
            kind=FindingKind(data["kind"]),
            message=data["message"],
            fields=tuple(data.get("fields", ())),
            expected=dict(data.get("expected", {})),
            observed=dict(data.get("observed", {})),
            consequence_of=data.get("consequence_of"),
        )


@dataclass(frozen=True)
class KindWords:
    """How one finding kind reads, wherever Baton writes it (``--json`` keeps the names).

    ``trail``: the status column of the text trail; ``status``: a stage in Slack ("❌ Form →
    CRM · dropped"); ``headline``: a leak's headline ("dropped at Form → CRM"); ``verb``:
    a rate sentence ("swaps {fields} in every record"), ``{fields}`` the fields it touched.
    """

    trail: str
    status: str
    headline: str
    verb: str

    def verb_for(self, fields: Sequence[str] = ()) -> str:
        return self.verb.format(fields=" and ".join(fields) if fields else "a field")


#: Every finding kind in words: the one table to extend with a new kind.
KIND_WORDS: dict[str, KindWords] = {
    "missing": KindWords("missing", "dropped", "dropped at", "drops"),
    "late": KindWords("late", "late", "late at", "delivers late"),
    "duplicate": KindWords("duplicate", "duplicated", "duplicated at", "duplicates"),
    "swapped": KindWords("swapped", "fields swapped", "fields swapped at", "swaps {fields} in"),
    "reformatted": KindWords(
        "reformatted", "reformatted", "reformatted at", "reformats {fields} in"
    ),
    "truncated": KindWords("truncated", "truncated", "truncated at", "truncates {fields} in"),
    "encoding": KindWords(
        "encoding",
        "characters mangled",
        "characters mangled at",
        "garbles the encoding of {fields} in",
    ),
    "wrong_value": KindWords(
        "wrong value", "wrong value", "wrong value at", "gets {fields} wrong in"
    ),
    "unexpected": KindWords(
        "unexpected",
        "arrived where it should not",
        "unexpected record at",
        "sends what it should not for",
    ),
    "unreachable": KindWords(
        "could not check", "could not check", "could not check", "could not check"
    ),
}


#: Which finding kind decides a stage's status when it has several (most telling first).
_KIND_PRIORITY = [
    FindingKind.UNREACHABLE,
    FindingKind.MISSING,
    FindingKind.UNEXPECTED,
    FindingKind.SWAPPED,
    FindingKind.WRONG_VALUE,
    FindingKind.ENCODING,
    FindingKind.TRUNCATED,
    FindingKind.REFORMATTED,
    FindingKind.DUPLICATE,
    FindingKind.LATE,
]


def status_for(findings: list[Finding]) -> str:
    """The status a stage shows for its findings: ``ok`` or the most telling kind."""
    kinds = {f.kind for f in findings}
    for kind in _KIND_PRIORITY:
        if kind in kinds:
            return str(kind)
    return STATUS_OK


@dataclass(frozen=True)
class StageResult:
    name: str
    tool: str
    after: str | None
    status: str
    found: int
    latency_s: float | None
    findings: list[Finding] = field(default_factory=list)
    label: str = ""
    #: The seam clock (ISO 8601, UTC): when the upstream handed the record on (for the entry:
    #: when the run asked to inject it), and when it came into being here (the tool's own
    #: creation time where its API gives one; for the entry: when it accepted the record).
    handoff_at: str | None = None
    arrived_at: str | None = None
    #: The entry only: seconds the record waited in Baton before it was sent (the entry's
    #: rate limit), Baton's own delay, counted in no seam.
    queued_s: float | None = None
    #: The record must NOT show up here (``expect: absent: true``, e.g. no welcome mail
    #: without consent): ``ok`` then means it rightly did not.
    expected_absent: bool = False

    @property
    def seam(self) -> str:
        """``"Form → CRM"``: the handoff into this stage (the entry stage has no seam)."""
        return f"{self.after} → {self.name}" if self.after else self.name

    @property
    def consequence_of(self) -> str | None:
        """The seam this stage's state follows from when it is no break of its own (missing
        because an earlier stage is, or not checked because an earlier one could not be);
        ``None`` for a stage that stands for itself. Set by ``diagnosis.localise``."""
        seams = [f.consequence_of for f in self.findings]
        return seams[0] if seams and all(seams) else None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tool": self.tool,
            "after": self.after,
            "status": self.status,
            "found": self.found,
            "latency_s": None if self.latency_s is None else round(self.latency_s, 3),
            "findings": [f.to_json() for f in self.findings],
            "handoff_at": self.handoff_at,
            "arrived_at": self.arrived_at,
            "queued_s": None if self.queued_s is None else round(self.queued_s, 3),
            "expect_absent": self.expected_absent,
        }


@dataclass(frozen=True)
class FirstBreak:
    """Where the chain broke first (``diagnosis.localise``).

    ``seam`` is the handoff that broke: ``"Form → CRM"``, or ``"Form → Welcome email, CRM"``
    when the handoff out of Form reached none of the stages after it. ``stage`` is the
    (first) stage behind that seam, ``after`` the stage whose outgoing handoff broke
    (``None`` for the entry). ``stages`` is every stage the break accounts for, in the
    workflow's order: for ``missing``, every stage that never got the record because of it
    (consequences included); for ``unreachable``, the stage and those that could not be
    checked because of it; else the stage alone. ``after`` and ``stages`` have defaults so
    results stored before they existed still load.
    """

    seam: str
    stage: str
    kind: str
    message: str
    after: str | None = None
    stages: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "seam": self.seam,
            "stage": self.stage,
            "kind": self.kind,
            "message": self.message,
            "after": self.after,
            "stages": list(self.stages),
        }


@dataclass(frozen=True)
class CleanupResult:
    status: str  # done | partial | failed | pending | skipped
    removed: int
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "removed": self.removed}


@dataclass(frozen=True)
class RunResult:
    run_id: str
    workflow: str
    variant: str | None
    started_at: str
    finished_at: str | None
    verdict: Verdict
    stages: list[StageResult]
    first_break: FirstBreak | None
    cleanup: CleanupResult
    marker: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "workflow": self.workflow,
            "variant": self.variant,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "verdict": str(self.verdict),
            "stages": [s.to_json() for s in self.stages],
            "first_break": self.first_break.to_json() if self.first_break else None,
            "cleanup": self.cleanup.to_json(),
        }


class Reach(enum.StrEnum):
    """Whether the record reached a stage, as far as a run can tell (see :func:`trace`)."""

    #: The record is there (whatever else may be wrong with it).
    ARRIVED = "arrived"
    #: Missing although the stage before it had the record: a break of its own.
    LOST = "lost"
    #: Missing because the stage before it never had the record: a consequence.
    NOT_REACHED = "not_reached"
    #: Could not be checked (unreachable), or never decided (pending, skipped).
    UNKNOWN = "unknown"
    #: Missing (or reported so) below a stage that could not be checked: nobody knows.
    UPSTREAM_UNKNOWN = "upstream_unknown"


@dataclass(frozen=True)
class Trace:
    """A stage's :class:`Reach`, and the stage that accounts for it (``root``): itself
    for a break or a stage that could not be checked, else the upstream stage whose break
    (or whose check) its own state follows from."""

    reach: Reach
    root: str


def never_arrived(stage: StageResult) -> bool:
    """Missing, and no copy at all was seen (``arrived only 1 time (expected 2)`` did arrive)."""
    if stage.status != FindingKind.MISSING:
        return False
    counts = [f.observed.get("count") for f in stage.findings if f.kind == FindingKind.MISSING]
    return not any(isinstance(c, int | float) and c > 0 for c in counts)


def _derived_unknown(stage: StageResult) -> bool:
    """Already rewritten as "could not check (upstream unknown)"."""
    return (
        stage.status == FindingKind.UNREACHABLE
        and bool(stage.findings)
        and all(f.consequence_of for f in stage.findings)
    )


def trace(stages: Sequence[StageResult]) -> dict[str, Trace]:
    """Where the record got to, stage by stage, following each stage's ``after``.

    A missing stage below one that never had the record is ``NOT_REACHED`` (a consequence
    of the upstream break, its ``root``); below one that could not be checked it is
    ``UPSTREAM_UNKNOWN``. Works on raw results and on results already localised.

    >>> a = StageResult("a", "t", None, "ok", 1, 0.1)
    >>> b = StageResult("b", "t", "a", "missing", 0, None)
    >>> c = StageResult("c", "t", "b", "missing", 0, None)
    >>> {name: (str(t.reach), t.root) for name, t in trace([a, b, c]).items()}
    {'a': ('arrived', 'a'), 'b': ('lost', 'b'), 'c': ('not_reached', 'b')}
    """
    by_name = {s.name: s for s in stages}
    out: dict[str, Trace] = {}

    def visit(stage: StageResult, seen: frozenset[str]) -> Trace:
        done = out.get(stage.name)
        if done is not None:
            return done
        upstream = by_name.get(stage.after) if stage.after else None
        up: Trace | None = None
        if upstream is not None and upstream.name not in seen:
            up = visit(upstream, seen | {stage.name})
        result = _trace_one(stage, up)
        out[stage.name] = result
        return result

    for stage in stages:
        visit(stage, frozenset())
    return out


def _trace_one(stage: StageResult, up: Trace | None) -> Trace:
    upstream_lost = up is not None and up.reach in (Reach.LOST, Reach.NOT_REACHED)
    upstream_unknown = up is not None and up.reach in (Reach.UNKNOWN, Reach.UPSTREAM_UNKNOWN)
    if never_arrived(stage) or _derived_unknown(stage):
        if up is not None and upstream_lost:
            return Trace(Reach.NOT_REACHED, up.root)
        if up is not None and upstream_unknown:
            return Trace(Reach.UPSTREAM_UNKNOWN, up.root)
        if _derived_unknown(stage):
            return Trace(Reach.UNKNOWN, stage.name)
        return Trace(Reach.LOST, stage.name)
    if stage.status == STATUS_SKIPPED and up is not None and upstream_unknown:
        return Trace(Reach.UNKNOWN, up.root)
    if stage.status in (FindingKind.UNREACHABLE, STATUS_PENDING, STATUS_SKIPPED):
        return Trace(Reach.UNKNOWN, stage.name)
    return Trace(Reach.ARRIVED, stage.name)


def verdict_for(stages: list[StageResult]) -> Verdict:
    """``leak`` if any stage has a real finding, else ``error`` if any could not be checked.

    A stage missing below one that could not be checked is "could not check" too (nobody
    knows whether the record reached its upstream), whether or not it was localised yet.
    """
    traced = trace(stages)
    kinds: set[FindingKind] = set()
    for s in stages:
        if traced[s.name].reach == Reach.UPSTREAM_UNKNOWN:
            kinds.add(FindingKind.UNREACHABLE)
        else:
            kinds.update(f.kind for f in s.findings)
    if kinds - {FindingKind.UNREACHABLE}:
        return Verdict.LEAK
    if FindingKind.UNREACHABLE in kinds:
        return Verdict.ERROR
    return Verdict.OK
