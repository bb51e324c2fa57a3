"""Checks for ``workflows:``: stages, expectations and variants.

A workflow is a tree of stages: the first is the entry (its tool injects the test
record), every other stage names an earlier one in ``after`` and its tool is observed.
Templates (``expect.fields`` values, the entry's ``options.fields``) are checked by
``config.records.check_template``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..record import TestRecord
from . import messages as msg
from .check import Checker
from .connector_specs import ConnectorSpec
from .document import KeyPath
from .model import (
    DEFAULT_DEADLINE_S,
    DEFAULT_GRACE_S,
    DEFAULT_SETTLE_S,
    Expectation,
    StageConfig,
    VariantConfig,
    WorkflowConfig,
)
from .options import check_option, check_option_templates
from .records import check_record, check_template, sample_record
from .schedules import check_alerts, check_schedule
from .values import name_problem

WORKFLOW_KEYS = (
    "description",
    "record",
    "stages",
    "variants",
    "schedule",
    "alerts",
    "workspace",
)
#: A Slack team ID, as ``team_id`` in every request and ``auth.test`` give it.
TEAM_ID = re.compile(r"T[A-Z0-9]{2,30}")
STAGE_KEYS = ("name", "tool", "after", "label", "expect", "deadline", "grace", "settle", "options")
EXPECT_KEYS = ("fields", "count", "absent")
VARIANT_KEYS = ("record", "expect")


def parse_workflows(
    ck: Checker,
    value: Any,
    tools: Mapping[str, ConnectorSpec | None],
    *,
    specs: Mapping[str, ConnectorSpec],
    global_record: Mapping[str, Any],
    default_channel: str | None = None,
) -> dict[str, WorkflowConfig]:
    """``workflows.*``; ``tools`` maps each declared tool to its spec (``None``: bad type).

    ``default_channel`` (``slack.default_channel``) is where a schedule without its own
    ``channel`` reports.
    """
    if value is None:
        present = ("workflows",) in ck.doc.lines
        ck.add(
            ("workflows",),
            msg.empty_list("workflow")
            if present
            else msg.missing_key("a config needs at least one workflow"),
        )
        return {}
    mapping = ck.mapping(("workflows",), value)
    if mapping is not None and not mapping:
        ck.add(("workflows",), msg.empty_list("workflow"))
    checker = _WorkflowChecker(ck, tools, specs, global_record, default_channel)
    out: dict[str, WorkflowConfig] = {}
    for name, raw in (mapping or {}).items():
        workflow = checker.workflow(name, raw)
        if workflow is not None:
            out[name] = workflow
    return out


class _WorkflowChecker:
    def __init__(
        self,
        ck: Checker,
        tools: Mapping[str, ConnectorSpec | None],
        specs: Mapping[str, ConnectorSpec],
        global_record: Mapping[str, Any],
        default_channel: str | None = None,
    ) -> None:
        self.ck = ck
        self.tools = tools
        self.default_channel = default_channel
        self.inject_types = [s.type_name for s in specs.values() if s.can_inject]
        self.observe_types = [s.type_name for s in specs.values() if s.can_observe]
        self.global_record = global_record
        self.sample = sample_record()

    def workflow(self, name: str, raw: Any) -> WorkflowConfig | None:
        ck = self.ck
        path: KeyPath = ("workflows", name)
        if problem := name_problem("workflow", name):
            ck.add(path, problem)
        m = ck.mapping(path, raw, WORKFLOW_KEYS, required=("stages",))
        if m is None:
            return None
        description = ck.text((*path, "description"), m.get("description")) or ""
        workspace = ck.text((*path, "workspace"), m.get("workspace")) or None
        if workspace is not None and not TEAM_ID.fullmatch(workspace):
            ck.add((*path, "workspace"), msg.workspace_id(workspace))
            workspace = None
        record = check_record(ck, (*path, "record"), m.get("record"))
        variant_records: dict[str, dict[str, Any]] = {}
        raw_variants = m.get("variants")
        for vname, v in raw_variants.items() if isinstance(raw_variants, dict) else ():
            if isinstance(v, dict):
                vpath = (*path, "variants", vname, "record")
                variant_records[vname] = check_record(ck, vpath, v.get("record"))
        self.sample = self._sample(record, *variant_records.values())
        stages = self.stages((*path, "stages"), m.get("stages"))
        variants = self.variants((*path, "variants"), m.get("variants"), stages, variant_records)
        schedule = check_schedule(
            ck,
            (*path, "schedule"),
            m.get("schedule"),
            workflow=name,
            # Every name written, so a variant with its own problem is not "unknown" too.
            variants=list(raw_variants) if isinstance(raw_variants, dict) else [],
            default_channel=self.default_channel,
        )
        alerts = check_alerts(
            ck,
            (*path, "alerts"),
            m.get("alerts"),
            default_timezone=schedule.timezone if schedule is not None else "UTC",
        )
        if not stages:
            return None
        return WorkflowConfig(
            name=name,
            stages=stages,
            description=description,
            record=record,
            variants=variants,
            schedule=schedule,
            alerts=alerts,
            workspace=workspace,
        )

    def _sample(self, *records: Mapping[str, Any]) -> TestRecord:
        return sample_record(self.global_record, *records)

    # -- stages ------------------------------------------------------------------------

    def stages(self, path: KeyPath, value: Any) -> list[StageConfig]:
        ck = self.ck
        if value is None:
            return []
        if not isinstance(value, list):
            ck.add(path, msg.wrong_type("a list of stages", value))
            return []
        if not value:
            ck.add(path, msg.empty_list("stage (the entry)"))
            return []
        names: list[str | None] = []
        first_index: dict[str, int] = {}
        for i, raw in enumerate(value):
            name = raw.get("name") if isinstance(raw, dict) else None
            name = name if isinstance(name, str) and name else None
            if name is not None and (problem := name_problem("stage", name)):
                ck.add((*path, i, "name"), problem)
            if name is not None and name in first_index:
                ck.add((*path, i, "name"), msg.duplicate_stage(name, first_index[name]))
            elif name is not None:
                first_index[name] = i
            names.append(name)
        afters = {
            raw["name"]: raw.get("after")
            for raw in value
            if isinstance(raw, dict) and isinstance(raw.get("name"), str)
        }
        out = []
        for i, raw in enumerate(value):
            stage = self.stage((*path, i), i, raw, names, afters)
            if stage is not None:
                out.append(stage)
        return out if len(out) == len(value) else []

    def stage(
        self,
        path: KeyPath,
        index: int,
        raw: Any,
        names: list[str | None],
        afters: Mapping[str, Any],
    ) -> StageConfig | None:
        ck = self.ck
        m = ck.mapping(path, raw, STAGE_KEYS, required=("name", "tool"))
        if m is None:
            return None
        name = ck.text((*path, "name"), m.get("name"), required="name" in m) or ""
        tool = ck.text((*path, "tool"), m.get("tool"), required="tool" in m) or ""
        for key, value in (("name", name), ("tool", tool)):
            if not value.strip() and isinstance(m.get(key), str):
                ck.add((*path, key), msg.needs_value())
        entry = index == 0
        if tool:
            self._check_tool((*path, "tool"), tool, entry=entry)
        after = self._after(path, m, name, index, names, afters)
        if entry and "expect" in m and not self._observable(tool):
            ck.add((*path, "expect"), msg.entry_has_expect())
        options = self._options((*path, "options"), tool, m.get("options"))
        if entry and "fields" in options:
            self._entry_fields((*path, "options", "fields"), options["fields"])
        return StageConfig(
            name=name,
            tool=tool,
            after=after,
            label=ck.text((*path, "label"), m.get("label")) or "",
            expect=self.expectation((*path, "expect"), m.get("expect")),
            deadline_s=ck.duration(
                (*path, "deadline"), m.get("deadline"), default=DEFAULT_DEADLINE_S
            ),
            grace_s=ck.duration(
                (*path, "grace"), m.get("grace"), default=DEFAULT_GRACE_S, zero_ok=True
            ),
            settle_s=ck.duration(
                (*path, "settle"), m.get("settle"), default=DEFAULT_SETTLE_S, zero_ok=True
            ),
            options=options,
        )

    def _options(self, path: KeyPath, tool: str, value: Any) -> dict[str, Any]:
        """``stages[i].options``: they win over the tool's, so they are checked alike."""
        ck = self.ck
        if value is None:
            return {}
        if not isinstance(value, dict):
            ck.add(path, msg.wrong_type("a mapping", value))
            return {}
        spec = self.tools.get(tool)
        type_name = spec.type_name if spec is not None else None
        options = {k: check_option(ck, (*path, k), type_name, k, v) for k, v in value.items()}

        def problem(template: str, extra: tuple[str, ...]) -> str | None:
            return check_template(template, self.sample, extra)

        # ``fields`` is the entry's, checked by ``_entry_fields`` whatever the tool.
        check_option_templates(ck, path, type_name, options, problem, skip=("fields",))
        return options

    def _observable(self, tool: str) -> bool:
        spec = self.tools.get(tool)
        return spec is not None and spec.can_observe

    def _check_tool(self, path: KeyPath, tool: str, *, entry: bool) -> None:
        if tool not in self.tools:
            same_type = [n for n, s in self.tools.items() if s is not None and s.type_name == tool]
            self.ck.add(path, msg.unknown_tool(tool, self.tools, same_type))
            return
        spec = self.tools[tool]
        if spec is None:
            return  # its type is already reported
        if entry and not spec.can_inject:
            self.ck.add(path, msg.cannot_inject(tool, spec.type_name, self.inject_types))
        elif not entry and not spec.can_observe:
            self.ck.add(path, msg.cannot_observe(tool, spec.type_name, self.observe_types))

    def _after(
        self,
        path: KeyPath,
        m: Mapping[str, Any],
        name: str,
        index: int,
        names: list[str | None],
        afters: Mapping[str, Any],
    ) -> str | None:
        ck = self.ck
        p = (*path, "after")
        earlier = [n for n in names[:index] if n]
        if index == 0:
            if m.get("after") is not None:
                ck.add(p, msg.entry_has_after())
            return None
        after = ck.text(p, m.get("after"))
        if not after:
            ck.add(p, msg.after_missing(earlier))
            return None
        if after in earlier:
            return after
        if after == name:
            ck.add(p, msg.after_self(name))
        elif after in names:
            ck.add(p, msg.after_later(after, _cycle(name, afters)))
        else:
            ck.add(p, msg.unknown_stage(after, [n for n in names if n and n != name]))
        return None

    # -- expectations and templates ----------------------------------------------------

    def expectation(self, path: KeyPath, value: Any) -> Expectation:
        ck = self.ck
        if value is None:
            return Expectation()
        m = ck.mapping(path, value, EXPECT_KEYS)
        if m is None:
            return Expectation()
        return Expectation(
            fields=self.templates((*path, "fields"), m.get("fields")),
            count=ck.count((*path, "count"), m.get("count")),
            absent=ck.boolean((*path, "absent"), m.get("absent")),
        )

    def templates(self, path: KeyPath, value: Any) -> dict[str, str]:
        if value is None:
            return {}
        m = self.ck.mapping(path, value)
        out: dict[str, str] = {}
        for key, raw in (m or {}).items():
            template = self._template((*path, key), raw)
            if template is not None:
                out[key] = template
        return out

    def _entry_fields(self, path: KeyPath, value: Any) -> None:
        if not isinstance(value, dict):
            self.ck.add(path, msg.wrong_type("a mapping of field: template", value))
            return
        for key, raw in value.items():
            self._template((*path, key), raw)

    def _template(self, path: KeyPath, raw: Any) -> str | None:
        ck = self.ck
        if isinstance(raw, bool):
            template = "true" if raw else "false"
        elif isinstance(raw, str):
            template = ck.expand(path, raw)
        elif isinstance(raw, int | float):
            template = str(raw)
        else:
            ck.add(path, msg.wrong_type("a template (text, e.g. '{email}')", raw))
            return None
        problem = check_template(template, self.sample)
        if problem:
            ck.add(path, problem)
            return None
        return template

    # -- variants ----------------------------------------------------------------------

    def variants(
        self,
        path: KeyPath,
        value: Any,
        stages: list[StageConfig],
        records: Mapping[str, dict[str, Any]],
    ) -> dict[str, VariantConfig]:
        ck = self.ck
        if value is None:
            return {}
        mapping = ck.mapping(path, value)
        out: dict[str, VariantConfig] = {}
        stage_names = [s.name for s in stages]
        for name, raw in (mapping or {}).items():
            p = (*path, name)
            if problem := name_problem("variant", name):
                ck.add(p, problem)
            m = {} if raw is None else ck.mapping(p, raw, VARIANT_KEYS)
            if m is None:
                continue
            expect: dict[str, Expectation] = {}
            em = ck.mapping((*p, "expect"), m["expect"]) if m.get("expect") is not None else {}
            for stage, exp in (em or {}).items():
                if stages and stage not in stage_names:
                    ck.add((*p, "expect", stage), msg.unknown_stage(stage, stage_names))
                    continue
                if stages and stage == stage_names[0] and not self._observable(stages[0].tool):
                    ck.add((*p, "expect", stage), msg.entry_has_expect())
                    continue
                expect[stage] = self.expectation((*p, "expect", stage), exp)
            out[name] = VariantConfig(name=name, record=records.get(name, {}), expect=expect)
        return out


def _cycle(start: str, afters: Mapping[str, Any]) -> list[str] | None:
    """``[a, b, a]`` when following ``after`` from ``start`` comes back to it."""
    chain = [start]
    current = afters.get(start)
    while isinstance(current, str) and current in afters:
        chain.append(current)
        if current == start:
            return chain
        if chain.count(current) > 1:
            return None
        current = afters.get(current)
    return None
