"""``baton digest``, ``baton schedule`` and ``baton burst`` through click's CliRunner."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
import sqlite_utils
from click.testing import CliRunner
from test_digest import NOW, seed

from baton.probes.cli import cli
from baton.probes.cli import ops as cli_ops
from baton.probes.config import Config, Expectation, StageConfig, ToolConfig, WorkflowConfig
from baton.probes.connectors import Connector, register
from baton.probes.errors import Unreachable
from baton.probes.health.schedule import ScheduleSpec, last_slot
from baton.probes.record import TestRecord
from baton.probes.store import Store

CONFIG = """\
version: 1
store: baton.db
tools:
  form:
    type: webhook
    url: http://127.0.0.1:9/hook
  crm:
    type: hubspot
    credentials:
      token: ${HUBSPOT_TOKEN:-sandbox-token}
workflows:
  lead:
    stages:
      - name: form
        tool: form
      - name: crm
        tool: crm
        after: form
        expect:
          fields:
            email: "{email}"
"""


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "baton.yaml"
    path.write_text(CONFIG)
    seed(Store(sqlite_utils.Database(tmp_path / "baton.db")), rollup=False)
    monkeypatch.setattr(cli_ops, "clock", lambda: NOW)
    return path


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_commands_are_registered() -> None:
    from baton.probes.cli import COMMANDS, command

    assert {"digest", "schedule", "burst"} <= set(COMMANDS)
    assert command("digest") is cli_ops.digest


def test_digest_print_rolls_up_first(config_file: Path) -> None:
    result = invoke("digest", "--print", "--config", str(config_file))
    assert result.exit_code == 0, result.output
    assert "lead: 100 runs: 90 ok, 8 leaks, 2 could not check" in result.output
    assert "drops about 1 in 20, between 1 in 45 and 1 in 8.8" in result.output


def test_digest_json_and_chart(config_file: Path, tmp_path: Path) -> None:
    chart = tmp_path / "health.png"
    result = invoke(
        "digest", "lead", "--period", "3d", "--json", "--chart", str(chart), "-c", str(config_file)
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["period_s"] == 3 * 86_400
    assert data["workflows"][0]["estimate"]["words"].startswith("leaks about 1 in 12")
    assert chart.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["leed"], "error: unknown workflow 'leed' (did you mean 'lead'?)", id="name"),
        pytest.param(
            ["--period", "soon"], "error: --period 'soon': use a number and a unit", id="period"
        ),
    ],
)
def test_digest_usage_errors(config_file: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["digest", *args, "-c", str(config_file)])
    assert result.exit_code == 2
    assert result.output.startswith(message)


@dataclass(frozen=True)
class ScheduledWorkflow(WorkflowConfig):
    """A workflow with the ``schedule`` field the config model will get."""

    schedule: ScheduleSpec | None = None


def python_config(tmp_path: Path, *, schedule: ScheduleSpec | None = None) -> Config:
    tools = {n: ToolConfig(name=n, type="fakeburst") for n in ("form", "crm")}
    stages = [
        StageConfig(name="form", tool="form", label="Form"),
        StageConfig(
            name="crm",
            tool="crm",
            after="form",
            label="CRM",
            expect=Expectation(fields={"email": "{email}"}),
            deadline_s=2.0,
            grace_s=0.1,
            settle_s=0.0,
        ),
    ]
    wf = ScheduledWorkflow(name="lead", stages=stages, schedule=schedule)
    return Config(tools=tools, workflows={"lead": wf}, store=str(tmp_path / "ops.db"))


def test_schedule_list_pause_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ScheduleSpec("lead", cron="*/15 * * * *", channel="C1", variants=("a", None))
    config = python_config(tmp_path, schedule=spec)
    monkeypatch.setattr(cli_ops, "load", lambda path: config)
    monkeypatch.setattr(cli_ops, "clock", lambda: NOW)  # 2026-05-28 20:26:40 UTC

    listed = invoke("schedule")
    assert listed.output == (
        "lead: cron '*/15 * * * *' (UTC), next 2026-05-28 20:30 UTC; to C1; "
        "variants a, default; last –\n"
    )
    assert invoke("schedule", "pause", "lead").output == (
        "lead: schedule paused (cron '*/15 * * * *' (UTC))\n"
    )
    rows = json.loads(invoke("schedule", "list", "--json").output)
    assert (rows[0]["paused"], rows[0]["next_run"]) == (True, None)
    assert invoke("schedule", "resume", "lead").output == (
        "lead: schedule resumed, next run 2026-05-28 20:30 UTC\n"
    )
    assert json.loads(invoke("schedule", "--json").output)[0]["paused"] is False
    assert last_slot(Store(sqlite_utils.Database(config.store)).db, "lead") is None


def test_schedule_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_ops, "load", lambda path: python_config(tmp_path))
    assert invoke("schedule").output == (
        "no schedules: add `schedule:` to a workflow in the config\n"
    )
    result = CliRunner().invoke(cli, ["schedule", "pause", "lead"])
    assert (result.exit_code, result.output) == (
        2,
        "error: workflow 'lead' has no schedule in the config\n",
    )
    result = CliRunner().invoke(cli, ["schedule", "resume", "leed"])
    assert result.exit_code == 2
    assert "unknown workflow 'leed' (did you mean 'lead'?)" in result.output


class Burst:
    injected: ClassVar[int] = 0
    kept: ClassVar[set[str]] = set()
    drop_every: ClassVar[int] = 0  # 0: keep all
    crm_down: ClassVar[bool] = False


@register
class FakeBurstTool(Connector):
    type_name = "fakeburst"
    can_inject = True
    can_observe = True

    async def inject(self, record: TestRecord, stage: StageConfig) -> None:
        Burst.injected += 1
        if not Burst.drop_every or Burst.injected % Burst.drop_every:
            Burst.kept.add(record.email)

    async def observe(self, record: TestRecord, stage: StageConfig) -> list[dict[str, Any]]:
        if Burst.crm_down:
            raise Unreachable("crm: cannot connect", tool=self.name)
        return [{"email": record.email, "_id": "1"}] if record.email in Burst.kept else []


@pytest.fixture
def burst_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    Burst.injected, Burst.drop_every, Burst.crm_down = 0, 0, False
    Burst.kept.clear()
    config = python_config(tmp_path)
    monkeypatch.setattr(cli_ops, "load", lambda path: config)
    return config


def test_burst_with_drops(burst_config: Config) -> None:
    Burst.drop_every = 4
    result = CliRunner().invoke(cli, ["burst", "lead", "-n", "20", "--concurrency", "20", "--json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.output)
    assert (data["runs"], data["ok"], data["leaks"], data["could_not_check"]) == (20, 15, 5, 0)
    assert data["words"] == "leaks about 25% (between 11% and 47%)"
    assert data["interval"] == pytest.approx([0.531299, 0.888138], abs=1e-6)
    crm = next(s for s in data["seams"] if s["stage"] == "crm")
    assert (crm["seam"], crm["words"]) == ("Form → CRM", "drops about 25% (between 11% and 47%)")
    assert len(data["leaked_runs"]) == 5
    runs = Store(sqlite_utils.Database(burst_config.store)).recent_runs(limit=50)
    assert len(runs) == 20


def test_burst_all_ok_text(burst_config: Config) -> None:
    result = CliRunner().invoke(cli, ["burst", "lead", "-n", "5"])
    assert result.exit_code == 0, result.output
    assert "burst lead: 5 runs in " in result.output
    assert "  no leaks in 5 runs (under 44% at 95%)" in result.output


def test_burst_could_not_check(burst_config: Config) -> None:
    Burst.crm_down = True
    result = CliRunner().invoke(cli, ["burst", "lead", "-n", "3", "--json"])
    assert result.exit_code == 3, result.output
    data = json.loads(result.output)
    assert (data["leaks"], data["could_not_check"], data["words"]) == (0, 3, "nothing checked")


def test_burst_unknown_variant(burst_config: Config) -> None:
    result = CliRunner().invoke(cli, ["burst", "lead", "--variant", "paypl"])
    assert result.exit_code == 2
    assert result.output.startswith("error: unknown variant 'paypl'")


def _burst_result(i: int, crm_findings: list[Any]) -> Any:
    from baton.probes.model import (
        CleanupResult,
        Finding,
        FindingKind,
        RunResult,
        StageResult,
        Verdict,
        status_for,
    )

    findings = [Finding(FindingKind(k), f"Form → CRM: {k}", fields=f) for k, f in crm_findings]
    stages = [
        StageResult("form", "form", None, "ok", 1, 0.1),
        StageResult("crm", "crm", "form", status_for(findings), 1, 0.5, findings),
    ]
    verdict = Verdict.LEAK if findings else Verdict.OK
    return RunResult(
        f"r-{i}", "lead", None, "t", "t", verdict, stages, None, CleanupResult("done", 1)
    )


def test_burst_words_each_rate_by_what_the_seam_does() -> None:
    swap = [("swapped", ("firstname", "email"))]
    results = [_burst_result(i, swap) for i in range(10)]
    summary = cli_ops.summarize_burst(results, {"crm": "Form → CRM"})
    crm = next(s for s in summary["seams"] if s["stage"] == "crm")
    assert crm["by_kind"] == [
        {
            "kind": "swapped",
            "fields": ["firstname", "email"],
            "runs": 10,
            "words": "swaps firstname and email in every record in 10 runs (at least 72% at 95%)",
        }
    ]
    text = cli_ops._burst_text({**summary, "workflow": "lead", "variant": None, "seconds": 1})
    assert "Form → CRM: swaps firstname and email in every record" in text
    assert "drops" not in text

    mixed = [_burst_result(i, swap if i < 3 else [("missing", ())]) for i in range(6)]
    mixed += [_burst_result(i, []) for i in range(6, 10)]
    summary = cli_ops.summarize_burst(mixed, {"crm": "Form → CRM"})
    crm = next(s for s in summary["seams"] if s["stage"] == "crm")
    assert sorted((k["kind"], k["runs"]) for k in crm["by_kind"]) == [
        ("missing", 3),
        ("swapped", 3),
    ]
    text = cli_ops._burst_text({**summary, "workflow": "lead", "variant": None, "seconds": 1})
    assert "    drops about 30%" in text and "    swaps firstname and email in about 30%" in text
