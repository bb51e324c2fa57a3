"""Localisation: the stages of a run as a reader should see them, and where it broke first.

``localise(workflow, stages)`` marks a stage missing only because an earlier one is (or
below one that could not be checked) as no break of its own, and finds the run's first
break (``first_break`` is its second half). Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from dataclasses import replace

from ..config import WorkflowConfig
from ..model import Finding, FindingKind, FirstBreak, Reach, RunResult, StageResult, trace

__all__ = ["first_break", "is_handoff", "localise", "localised"]


_FINDING_KINDS = frozenset(str(kind) for kind in FindingKind)
#: What the engine appends to a missing finding when the stage before was missing too.
_ALREADY_MISSING = re.compile(r"; it was already missing in [^;]*$")
_MISSING = str(FindingKind.MISSING)
_UNREACHABLE = str(FindingKind.UNREACHABLE)


def localise(
    workflow: WorkflowConfig, stages: list[StageResult]
) -> tuple[list[StageResult], FirstBreak | None]:
    """The stages as a reader should see them, and where the chain broke first.

    Works the way an integration tester would, following each stage's ``after``:

    - A missing stage whose upstream never had the record either (missing itself, or a
      consequence) stays ``missing`` (the record really is not there), but its finding
      says it is a consequence and names that break in ``consequence_of``:
      ``"CRM → Invoice: the record never reached Invoice, a consequence of the break at
      Form → CRM"``.
    - A missing stage whose upstream could not be checked (or is itself in that state)
      becomes ``unreachable``: ``"CRM → Invoice: could not check Invoice (upstream
      unknown: CRM could not be checked)"``, with ``consequence_of`` the seam into the
      stage that could not be checked. Such a stage never makes a leak.
    - The first break is the first real (non-consequence) leak in the workflow's stage
      order; a stage that could not be checked only when nothing leaked. When a stage
      that had the record hands it to two or more stages and none of them got it, the
      break is that stage's outgoing handoff: seam ``"Form → Welcome email, CRM"``.

    Pure. The stages come back in the order given; localising results that are already
    localised changes nothing. The first break is ``None`` when nothing is wrong.
    """
    run = _Run(workflow, stages)
    return [run.rewrite(s) for s in stages], run.first_break()


def first_break(workflow: WorkflowConfig, stages: list[StageResult]) -> FirstBreak | None:
    """The headline of a run: ``localise(workflow, stages)[1]``."""
    return localise(workflow, stages)[1]


def localised(result: RunResult, workflow: WorkflowConfig | None = None) -> RunResult:
    """``result`` with its stages localised, for showing it (its first break as it is).

    A no-op on results the engine already localised; results stored before localisation
    read the same way as new ones. Without ``workflow`` the stages' own labels are used.
    """
    stages, _ = localise(workflow or WorkflowConfig(name=result.workflow, stages=[]), result.stages)
    return result if stages == result.stages else replace(result, stages=stages)


def is_handoff(fb: FirstBreak, stages: list[StageResult]) -> bool:
    """Whether ``fb`` is a whole handoff out of ``fb.after`` (none of its next stages got
    the record), rather than one seam."""
    if fb.kind != _MISSING or fb.after is None:
        return False
    lost = set(fb.stages)
    return sum(1 for s in stages if s.after == fb.after and s.name in lost) >= 2


def _join(names: list[str], last: str = "and") -> str:
    """``"A"``, ``"A and B"``, ``"A, B and C"``."""
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} {last} {names[-1]}"


class _Run:
    """One run's stages, in the workflow's order, with their labels and seams."""

    def __init__(self, workflow: WorkflowConfig, stages: list[StageResult]) -> None:
        self.workflow = workflow
        self.by_name = {s.name: s for s in stages}
        self.known = {cfg.name for cfg in workflow.stages}
        self.order = [self.by_name[c.name] for c in workflow.stages if c.name in self.by_name]
        self.order += [s for s in stages if s.name not in self.known]
        self.traced = trace(stages)

    def label(self, name: str) -> str:
        if name in self.known:
            return self.workflow.stage(name).display
        stage = self.by_name.get(name)
        return (stage.label or name) if stage is not None else name

    def seam(self, name: str) -> str:
        if name in self.known:
            return self.workflow.seam(self.workflow.stage(name))
        stage = self.by_name.get(name)
        after = stage.after if stage is not None else None
        return f"{self.label(after)} → {self.label(name)}" if after else self.label(name)

    def reach(self, name: str) -> Reach:
        return self.traced[name].reach

    def caused_by(self, root: str, *reach: Reach) -> list[str]:
        """The stages (workflow order) in one of ``reach`` states because of ``root``."""
        return [
            s.name
            for s in self.order
            if s.name != root and self.traced[s.name].root == root and self.reach(s.name) in reach
        ]

    # -- the stages, rewritten

    def rewrite(self, stage: StageResult) -> StageResult:
        t = self.traced[stage.name]
        seam, where = self.seam(stage.name), self.label(stage.name)
        if t.reach == Reach.NOT_REACHED:
            root = self.seam(t.root)
            message = (
                f"{seam}: the record never reached {where}, a consequence of the break at {root}"
            )
            was = next((f for f in stage.findings if f.kind == FindingKind.MISSING), None)
            if was is None:
                was = Finding(FindingKind.MISSING, message, observed={"count": 0})
            finding = replace(was, message=message, consequence_of=root)
            return replace(stage, findings=[finding])
        if t.reach == Reach.UPSTREAM_UNKNOWN:
            message = (
                f"{seam}: could not check {where} "
                f"(upstream unknown: {self.label(t.root)} could not be checked)"
            )
            finding = Finding(FindingKind.UNREACHABLE, message, consequence_of=self.seam(t.root))
            return replace(stage, status=_UNREACHABLE, findings=[finding])
        if any(_ALREADY_MISSING.search(f.message) for f in stage.findings):
            findings = [
                replace(f, message=_ALREADY_MISSING.sub("", f.message)) for f in stage.findings
            ]
            return replace(stage, findings=findings)
        return stage

    # -- the first break

    def first_break(self) -> FirstBreak | None:
        broken = [s for s in self.order if s.status in _FINDING_KINDS]
        leaks = [
            s
            for s in broken
            if s.status != _UNREACHABLE
            and self.reach(s.name) not in (Reach.NOT_REACHED, Reach.UPSTREAM_UNKNOWN)
        ]
        unknown = [
            s for s in broken if s.status == _UNREACHABLE and self.reach(s.name) == Reach.UNKNOWN
        ]
        if not broken:
            return None
        stage = (leaks or unknown or broken)[0]
        if self.reach(stage.name) == Reach.LOST:
            handoff = self._handoff(stage)
            if handoff is not None:
                return handoff
        return self._seam_break(stage)

    def _handoff(self, stage: StageResult) -> FirstBreak | None:
        """The handoff out of the stage before ``stage`` when none of its next stages got
        the record (and it has two or more); else ``None``."""
        source = self.by_name.get(stage.after) if stage.after else None
        if source is None or self.reach(source.name) != Reach.ARRIVED:
            return None
        children = [s.name for s in self.order if s.after == source.name]
        if len(children) < 2 or any(self.reach(c) != Reach.LOST for c in children):
            return None
        lost = [
            s.name
            for s in self.order
            if self.reach(s.name) in (Reach.LOST, Reach.NOT_REACHED)
            and self.traced[s.name].root in children
        ]
        name = self.label(source.name)
        verb = "accepted" if source.after is None else "received"
        message = (
            f"{name} {verb} the record, but none of {', '.join(self.label(n) for n in lost)} "
            f"received it: the handoff out of {name} (its webhook or the glue's trigger) "
            "dropped it"
        )
        return FirstBreak(
            seam=f"{name} → {', '.join(self.label(c) for c in children)}",
            stage=children[0],
            kind=_MISSING,
            message=message,
            after=source.name,
            stages=lost,
        )

    def _seam_break(self, stage: StageResult) -> FirstBreak:
        seam = self.seam(stage.name)
        headline = next((f for f in stage.findings if f.kind == stage.status), None)
        if headline is None and stage.findings:
            headline = stage.findings[0]
        message = headline.message if headline else f"{seam}: {stage.status.replace('_', ' ')}"
        message = _ALREADY_MISSING.sub("", message)
        reach = self.reach(stage.name)
        also: list[str] = []
        if reach == Reach.LOST:
            also = self.caused_by(stage.name, Reach.NOT_REACHED)
            if also:
                message += (
                    f"; so it never reached {_join([self.label(n) for n in also], 'or')} either"
                )
        elif reach == Reach.UNKNOWN:
            also = self.caused_by(stage.name, Reach.UPSTREAM_UNKNOWN, Reach.UNKNOWN)
        return FirstBreak(
            seam=seam,
            stage=stage.name,
            kind=stage.status,
            message=message,
            after=stage.after,
            stages=[stage.name, *also],
        )
