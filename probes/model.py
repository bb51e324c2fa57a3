"""The results of a probe run: findings, stage results, the run result and its JSON form.

The JSON form (``RunResult.to_json()``) is a public interface: ``baton run --json`` prints it
and users' CI scripts read it. Change it only on purpose, with a CHANGELOG entry.
"""

from __future__ import annotations

import enum
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

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "fields": list(self.fields),
            "expected": self.expected,
            "observed": self.observed,
            "message": self.message,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        return cls(
            kind=FindingKind(data["kind"]),
            message=data["message"],
            fields=tuple(data.get("fields", ())),
            expected=dict(data.get("expected", {})),
            observed=dict(data.get("observed", {})),
        )


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

    @property
    def seam(self) -> str:
        """``"Form → CRM"``: the handoff into this stage (the entry stage has no seam)."""
        return f"{self.after} → {self.name}" if self.after else self.name

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tool": self.tool,
            "after": self.after,
            "status": self.status,
            "found": self.found,
            "latency_s": None if self.latency_s is None else round(self.latency_s, 3),
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass(frozen=True)
class FirstBreak:
    seam: str
    stage: str
    kind: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"seam": self.seam, "stage": self.stage, "kind": self.kind, "message": self.message}


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


def verdict_for(stages: list[StageResult]) -> Verdict:
    """``leak`` if any stage has a real finding, else ``error`` if any could not be checked."""
    kinds = {f.kind for s in stages for f in s.findings}
    if kinds - {FindingKind.UNREACHABLE}:
        return Verdict.LEAK
    if FindingKind.UNREACHABLE in kinds:
        return Verdict.ERROR
    return Verdict.OK
