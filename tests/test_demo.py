"""`baton demo`, as a new user runs it: every planted fault diagnosed, exit 0."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from baton.probes.demo import SCENARIOS

ROOT = Path(__file__).resolve().parents[1]


def test_demo_diagnoses_every_planted_fault() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from baton.probes.cli import main; main()", "demo", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert [r["scenario"] for r in results] == [s.title for s in SCENARIOS]
    assert all(r["as_planted"] for r in results), [
        (r["scenario"], r["verdict"], r["first_break"]) for r in results if not r["as_planted"]
    ]
    kinds = {r["first_break"]["kind"] for r in results if r["first_break"]}
    assert kinds == {
        "swapped",
        "wrong_value",
        "reformatted",
        "duplicate",
        "unexpected",
        "missing",
        "unreachable",
    }
