"""The `baton` command: exit codes, --json shape, JUnit, clean errors, crash and resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner
from test_integration import FAST

from baton.probes.cli import cli
from baton.probes.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(search_lag_s=0.3, glue_delay_s=(0.05, 0.2)) as sb:
        yield sb


@pytest.fixture
def config_file(tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BATON_SANDBOX_URL", sandbox.url)
    path = tmp_path / "baton.yaml"
    path.write_text(FAST, encoding="utf-8")
    return path


def spawn_run(config_file: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`baton run lead-to-invoice` in its own process, to crash or interrupt it."""
    cli_main = "from baton.probes.cli import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", cli_main, "run", "lead-to-invoice", "-c", str(config_file), "-q"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_run_ok_exits_0_with_a_readable_trail(config_file: Path) -> None:
    code, out, _ = invoke("run", "lead-to-invoice", "-c", str(config_file), "-q")
    assert code == 0, out
    assert "Form → CRM" in out and "Verdict: OK" in out
    assert "Cleanup: done" in out


def test_a_correct_no_consent_run_says_the_welcome_email_rightly_stayed_away(
    config_file: Path,
) -> None:
    code, out, _ = invoke(
        "run", "lead-to-invoice", "--variant", "no-consent", "-c", str(config_file), "-q"
    )
    assert code == 0, out
    assert out.splitlines()[-2] == (
        "Verdict: OK — the record reached every tool it should and, as expected, not Welcome email."
    )
    assert re.search(r"✓ Form → Welcome email +rightly absent", out), out
    code, out, _ = invoke(
        "run", "lead-to-invoice", "--variant", "no-consent", "-c", str(config_file), "--json"
    )
    stages = {s["name"]: s for s in json.loads(out)["stages"]}
    assert stages["welcome-email"]["expect_absent"] is True
    assert stages["crm"]["expect_absent"] is False


def test_run_json_has_the_documented_shape(config_file: Path, sandbox: Sandbox) -> None:
    sandbox.set_faults(["swap@crm=firstname,email"])
    code, out, _ = invoke(
        "run", "lead-to-invoice", "--variant", "card", "-c", str(config_file), "--json"
    )
    assert code == 1
    data = json.loads(out)
    assert set(data) == {
        "run_id",
        "workflow",
        "variant",
        "started_at",
        "finished_at",
        "verdict",
        "stages",
        "first_break",
        "cleanup",
    }
    assert data["verdict"] == "leak" and data["variant"] == "card"
    assert set(data["stages"][1]) == {
        "name",
        "tool",
        "after",
        "status",
        "found",
        "latency_s",
        "findings",
        "handoff_at",
        "arrived_at",
        "queued_s",
        "expect_absent",
    }
    # The seam clock: CRM's clock started when the form accepted the record.
    entry = data["stages"][0]
    assert entry["queued_s"] is not None and entry["arrived_at"] is not None
    assert data["stages"][1]["handoff_at"] == entry["arrived_at"]
    crm = next(s for s in data["stages"] if s["name"] == "crm")
    assert crm["status"] == "swapped"
    assert set(crm["findings"][0]) == {"kind", "fields", "expected", "observed", "message"}
    assert data["first_break"]["seam"] == "Form → CRM"
    assert data["first_break"]["kind"] == "swapped"
    assert set(data["cleanup"]) == {"status", "removed"}


def test_could_not_check_exits_3_and_junit_marks_an_error(
    config_file: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.set_faults(["outage@stripe"])
    junit = tmp_path / "report.xml"
    code, out, _ = invoke(
        "run", "lead-to-invoice", "-c", str(config_file), "-q", "--junit", str(junit)
    )
    assert code == 3, out
    assert "could not check" in out
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("errors") == "1" and suite.get("failures") == "0"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["run", "lead-to-invioce"], "did you mean 'lead-to-invoice'", id="workflow"),
        pytest.param(
            ["run", "lead-to-invoice", "-v", "paypall"], "did you mean 'paypal'", id="variant"
        ),
        pytest.param(["run", "lead-to-invoice", "--set", "nope"], "use field=value", id="set"),
        pytest.param(
            ["run", "lead-to-invoice", "--set", "colour=red"], "unknown record field", id="field"
        ),
        pytest.param(
            ["run", "lead-to-invoice", "--set", "email=ceo@realcustomer.com"],
            "reserved domains",
            id="real-domain",
        ),
    ],
)
def test_usage_errors_exit_2_with_one_clean_line(
    config_file: Path, args: list[str], message: str
) -> None:
    code, out, err = invoke(*args, "-c", str(config_file))
    assert code == 2
    assert message in err
    assert "Traceback" not in err + out


def test_missing_config_names_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = invoke("run", "lead-to-invoice")
    assert code == 2
    assert "pass --config PATH" in err


def test_check_config_ok_and_bad(config_file: Path, tmp_path: Path) -> None:
    code, out, _ = invoke("check-config", str(config_file))
    assert code == 0 and "ok" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(FAST.replace("tool: stripe", "tool: strpe"), encoding="utf-8")
    code, _, err = invoke("check-config", str(bad))
    assert code == 2
    assert "unknown tool 'strpe'" in err and "did you mean 'stripe'" in err
    assert "Traceback" not in err


def test_crash_mid_run_then_resume_finishes_and_cleans_up(
    config_file: Path, sandbox: Sandbox
) -> None:
    # A glue that needs longer than the first process lives.
    sandbox.set_faults(["delay@invoice=1.0"])
    env = {**os.environ, "BATON_SANDBOX_URL": sandbox.url}
    proc = spawn_run(config_file, env)
    deadline = time.monotonic() + 20
    while sandbox.state()["counts"]["hubspot"]["contacts"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)  # a crash: no cleanup code runs
    proc.wait(timeout=10)
    assert sandbox.state()["counts"]["hubspot"]["contacts"] == 1

    # A new process (after the lease expires, which --takeover skips) resumes the run.
    code, out, _ = invoke("resume", "-c", str(config_file), "--takeover", "--json")
    assert code == 0, out
    [result] = json.loads(out)
    assert result["verdict"] == "ok", json.dumps(result["stages"], indent=1)
    assert result["cleanup"]["status"] == "done"
    counts = sandbox.state()["counts"]
    assert counts["hubspot"]["contacts"] == 0 and counts["stripe"]["customers"] == 0


def test_an_unwritable_junit_path_is_refused_before_anything_runs(
    config_file: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    code, out, err = invoke(
        "run", "lead-to-invoice", "-c", str(config_file), "--junit", str(tmp_path / "no/j.xml")
    )
    assert code == 2
    assert "does not exist" in err and "Traceback" not in err + out
    assert sandbox.state()["counts"]["glue"]["runs"] == 0  # nothing was injected


def test_resume_exits_with_the_worst_verdict(config_file: Path, sandbox: Sandbox) -> None:
    sandbox.set_faults(["drop@crm"])
    env = {**os.environ, "BATON_SANDBOX_URL": sandbox.url}
    proc = spawn_run(config_file, env)
    deadline = time.monotonic() + 20
    while sandbox.state()["counts"]["stripe"]["customers"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)  # Ctrl-C: the run is released, not abandoned
    assert proc.wait(timeout=10) == 130
    code, out, _ = invoke("resume", "-c", str(config_file), "--json")
    [result] = json.loads(out)
    assert result["first_break"]["stage"] == "crm", result
    assert code == 1


def test_check_config_also_asks_the_connectors(config_file: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(FAST.replace("format: json", "format: xml", 1), encoding="utf-8")
    code, _, err = invoke("check-config", str(bad))
    assert code == 2
    # Where to fix it, as the loader's own problems say it: file, line, key.
    line = FAST.splitlines().index(
        next(x for x in FAST.splitlines() if x.strip().startswith("format: json"))
    )
    assert err == f"error: {bad}:{line + 1}: tools.form.format: must be json or form, got 'xml'\n"
    # A huge value is not echoed back whole.
    bad.write_text(FAST.replace("format: json", "format: " + "x" * 100_000, 1), encoding="utf-8")
    code, _, err = invoke("check-config", str(bad))
    assert code == 2 and len(err) < 300 and "(100,000 characters)" in err, err


def test_unwritable_chart_and_absurd_periods_are_usage_errors(config_file: Path) -> None:
    code, _, err = invoke("digest", "-c", str(config_file), "--chart", "/nonexistent/h.png")
    assert code == 2 and "does not exist" in err
    code, _, err = invoke("digest", "-c", str(config_file), "--period", "99999999w")
    assert code == 2 and "at most 366d" in err


def test_a_lost_glue_trigger_is_the_handoff_out_of_the_form(
    config_file: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.set_faults(["drop@glue"])
    junit = tmp_path / "report.xml"
    code, out, _ = invoke(
        "run", "lead-to-invoice", "-c", str(config_file), "--json", "--junit", str(junit)
    )
    assert code == 1, out
    fb = json.loads(out)["first_break"]
    assert fb == {
        "seam": "Form → Welcome email, CRM",
        "stage": "welcome-email",
        "kind": "missing",
        "message": "Form accepted the record, but none of Welcome email, CRM, Invoice "
        "received it: the handoff out of Form (its webhook or the glue's trigger) dropped it",
        "after": "form",
        "stages": ["welcome-email", "crm", "invoice"],
    }
    # one break: the two seams out of Form fail, Invoice was never reached
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "2" and suite.get("errors") == "0"
    skipped = [c.get("name") for c in suite.iter("testcase") if c.find("skipped") is not None]
    assert skipped == ["CRM → Invoice"]


def test_an_outage_upstream_is_could_not_check_downstream(
    config_file: Path, sandbox: Sandbox
) -> None:
    sandbox.set_faults(["outage@hubspot"])
    code, out, _ = invoke("run", "lead-to-invoice", "-c", str(config_file), "-q")
    assert code == 3, out
    assert "LEAK" not in out
    trail = [" ".join(line.split()) for line in out.splitlines()]
    assert "? CRM → Invoice could not check (upstream unknown: CRM could not be checked)" in trail
    assert "Verdict: ERROR (could not check) — could not check CRM" in out


def test_ctrl_c_then_cleanup_removes_the_record_at_once_and_says_what_stays(
    config_file: Path, sandbox: Sandbox
) -> None:
    sandbox.set_faults(["delay@invoice=3.0"])
    env = {**os.environ, "BATON_SANDBOX_URL": sandbox.url}
    proc = spawn_run(config_file, env)
    deadline = time.monotonic() + 20
    while sandbox.state()["counts"]["hubspot"]["contacts"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)  # Ctrl-C: the run is given up, not finished
    proc.wait(timeout=10)
    sandbox.set_faults([])
    time.sleep(3.5)  # the glue finishes its invoice meanwhile
    code, out, _ = invoke("cleanup", "-c", str(config_file))
    assert code == 0, out
    assert "0 cleanup task(s) still pending" in out
    counts = sandbox.state()["counts"]
    assert counts["hubspot"]["contacts"] == 0 and counts["stripe"]["customers"] == 0


def test_cleanup_names_the_tool_and_why_a_task_stays_pending(
    config_file: Path, sandbox: Sandbox
) -> None:
    sandbox.set_faults(["outage@stripe"])
    code, _, _ = invoke("run", "lead-to-invoice", "-c", str(config_file), "-q")
    assert code == 3
    code, out, _ = invoke("cleanup", "-c", str(config_file))
    assert code == 3
    assert "1 cleanup task(s) still pending" in out
    assert "stripe: " in out and "503" in out


@pytest.mark.parametrize(
    "value", ["amount=1e308", "amount=nan", "amount=-5", "date=2026-13-45", "x_note=" + "y" * 2000]
)
def test_hostile_set_values_of_other_fields_end_cleanly(config_file: Path, value: str) -> None:
    code, out, err = invoke("run", "lead-to-invoice", "-c", str(config_file), "--set", value)
    assert code == 2, out + err
    assert "Traceback" not in out + err and len(err.strip().splitlines()) == 1, err


HOSTILE_EMAILS = [
    "{marker:>3000000}@example.com",
    "{0}@example.com",
    "{nope}@example.com",
    "{marker",
    "probe+{marker}@example.com}",
    "{email.__class__}@example.com",
    "victim@gmail.com,probe@example.com",
    "victim@gmail.com;probe@example.com",
    "victim@gmail.com\nprobe@example.com",
    '"victim@gmail.com"@example.com',
    "Victim <victim@gmail.com>, probe@example.com",
    "probe@example.com (victim@gmail.com)",
    "probe@example.com victim@gmail.com",
    "x" * 5000 + "@example.com",
    "",
]


@pytest.mark.parametrize("email", HOSTILE_EMAILS, ids=range(len(HOSTILE_EMAILS)))
def test_hostile_set_values_end_cleanly_and_leave_no_run(
    config_file: Path, sandbox: Sandbox, email: str
) -> None:
    code, out, err = invoke(
        "run", "lead-to-invoice", "-c", str(config_file), "--set", f"email={email}"
    )
    assert code == 2, out + err
    assert "Traceback" not in out + err
    assert len(err.strip().splitlines()) == 1, err
    assert sandbox.state()["counts"]["hubspot"]["contacts"] == 0
    # Nothing was stored: a later resume has nothing to do.
    code, out, _ = invoke("resume", "-c", str(config_file), "--json")
    assert code == 0 and json.loads(out) == []


def test_a_key_carried_in_a_url_never_shows_in_any_output(
    config_file: Path, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "ordersKEY-7d1f0c9a2b"
    monkeypatch.setenv("ORDERS_KEY", key)
    text = config_file.read_text(encoding="utf-8")
    # An http tool that cannot be reached (nothing listens on port 9): its errors name the
    # URL, on a stage after the form.
    text = text.replace(
        "  stripe:  # Stripe",
        "  orders:\n"
        "    type: http\n"
        "    url: http://127.0.0.1:9/orders?email={email}&api_key=${ORDERS_KEY}\n"
        "    records_path: data\n"
        "  stripe:  # Stripe",
    )
    text = text.replace(
        "      - name: invoice  # the Stripe invoice",
        "      - name: orders\n"
        "        tool: orders\n"
        "        after: form\n"
        "        deadline: 1s\n"
        "        grace: 1s\n"
        "      - name: invoice  # the Stripe invoice",
        1,
    )
    config_file.write_text(text, encoding="utf-8")
    junit = tmp_path / "junit.xml"
    code, out, err = invoke(
        "run", "lead-to-invoice", "-c", str(config_file), "--json", "--junit", str(junit)
    )
    assert code in (1, 3), out + err
    assert "api_key=***" in out
    stored = "\n".join(
        str(v)
        for row in sqlite_utils.Database(str(tmp_path / "baton.db")).query("SELECT * FROM stages")
        for v in row.values()
    )
    outputs = {"stdout": out, "stderr": err, "junit": junit.read_text(), "store": stored}
    for where, written in outputs.items():
        assert key not in written, where


@pytest.mark.parametrize(
    "url",
    [
        # A catch hook whose path is the secret (Zapier, Make), and a key under a name no
        # pattern knows: only "it came from the environment" says they are secret.
        "http://127.0.0.1:9/hooks/catch/${HOOK_PATH}/orders?email={email}",
        "http://127.0.0.1:9/orders?email={email}&x=${ORDERS_KEY}",
    ],
    ids=["path", "odd-param"],
)
def test_every_value_from_the_environment_is_masked_in_every_output(
    config_file: Path,
    sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
) -> None:
    secrets = {"HOOK_PATH": "4e1f9c/hookpath-secret", "ORDERS_KEY": "plainword-key-77"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    text = config_file.read_text(encoding="utf-8")
    text = text.replace(
        "  stripe:  # Stripe",
        f"  orders:\n    type: http\n    url: {url}\n    records_path: data\n  stripe:  # Stripe",
    )
    text = text.replace(
        "      - name: invoice  # the Stripe invoice",
        "      - name: orders\n        tool: orders\n        after: form\n"
        "        deadline: 1s\n        grace: 1s\n      - name: invoice  # the Stripe invoice",
        1,
    )
    config_file.write_text(text, encoding="utf-8")
    junit = tmp_path / "junit.xml"
    written = {}
    code, written["json"], written["json-stderr"] = invoke(
        "run", "lead-to-invoice", "-c", str(config_file), "--json", "--junit", str(junit)
    )
    assert code in (1, 3), written
    # The masked URL still says where the request went.
    assert "127.0.0.1:9/" in written["json"]
    assert "[redacted]" in written["json"] or "***" in written["json"]
    written["junit"] = junit.read_text(encoding="utf-8")
    code, written["text"], written["text-stderr"] = invoke(
        "run", "lead-to-invoice", "-c", str(config_file)
    )
    assert code in (1, 3)
    written["store"] = "\n".join(
        str(v)
        for table in ("runs", "stages", "cleanup")
        for row in sqlite_utils.Database(str(tmp_path / "baton.db")).query(f"SELECT * FROM {table}")
        for v in row.values()
    )
    for where, out in written.items():
        for value in secrets.values():
            assert value not in out, where
    # A config problem that echoes an expanded value masks it too.
    config_file.write_text(
        text.replace(
            "deadline: 1s\n        grace: 1s", "deadline: ${ORDERS_KEY}\n        grace: 1s"
        ),
        encoding="utf-8",
    )
    code, out, err = invoke("check-config", str(config_file))
    assert code == 2 and "deadline" in err, err
    assert secrets["ORDERS_KEY"] not in out + err


def test_sandbox_help_lists_the_fault_grammar() -> None:
    from baton.probes.sandbox.faults import KINDS

    code, out, _ = invoke("sandbox", "--help")
    assert code == 0
    assert "KIND[@TARGET][=ARG]" in out
    for kind in KINDS:
        assert f"\n    {kind} " in out, kind
    assert "baton sandbox --fault 'delay@invoice=2-5'" in out


def test_a_tool_not_listening_is_named_at_once_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATON_SANDBOX_URL", "http://127.0.0.1:9")  # nothing listens there
    path = tmp_path / "baton.yaml"
    path.write_text(FAST, encoding="utf-8")
    started = time.monotonic()
    code, out, _ = invoke("run", "lead-to-invoice", "-c", str(path))
    assert code == 3
    assert time.monotonic() - started < 10  # no silent retrying
    assert "nothing is listening at POST http://127.0.0.1:9/glue/hooks/catch/1001/leads" in out
    assert "is `baton sandbox` running?" in out
    assert "Cleanup: done" in out  # a refused connection sent nothing: nothing to remove


def test_init_writes_a_starter_that_checks_and_never_overwrites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = invoke("init")
    assert code == 0 and "wrote baton.yaml" in out and "baton run lead-to-invoice" in out
    assert (tmp_path / "baton.yaml").read_text().startswith("# Baton config")
    assert invoke("check-config")[0] == 0
    assert invoke("check-config", "--config", "baton.yaml")[0] == 0
    assert invoke("check-config", "-c", "baton.yaml")[0] == 0
    code, _, err = invoke("init")
    assert code == 2 and "already exists; pass --force" in err
    (tmp_path / "baton.yaml").write_text("mine", encoding="utf-8")
    assert invoke("init", "--force")[0] == 0
    code, out, _ = invoke("init", "ops.yaml")
    assert code == 0 and "baton run lead-to-invoice -c ops.yaml" in out


def test_the_text_trail_says_kinds_in_words(config_file: Path, sandbox: Sandbox) -> None:
    sandbox.set_faults(["cents@invoice"])
    code, out, _ = invoke("run", "lead-to-invoice", "-c", str(config_file))
    assert code == 1
    assert "wrong value" in out and "wrong_value" not in out


def test_a_vendors_error_body_is_shown_once_per_run(config_file: Path, sandbox: Sandbox) -> None:
    sandbox.set_faults(["outage@stripe"])
    code, out, _ = invoke("run", "lead-to-invoice", "-c", str(config_file))
    assert code == 3
    assert out.count("Stripe is temporarily unavailable") == 1, out
    assert "Verdict: ERROR (could not check) — could not check Invoice" in out
