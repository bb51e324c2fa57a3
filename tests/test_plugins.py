"""Connector plugins, installed the way pip installs a package (a module and its
``.dist-info`` with a ``baton.connectors`` entry point on ``sys.path``), run through the
real ``baton`` command in a fresh process: built-ins and plugins meet the same contract."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

GOOD = '''
from baton.probes.connectors import Connector, register


@register
class PipelineDemo(Connector):
    """A plugin connector: observes a CRM pipeline (it never runs in these tests)."""

    type_name = "pipeline_demo"
    can_observe = True
    options_doc = {"pipeline": "the pipeline id, a whole number (required)"}
    required_options = ("pipeline",)

    @classmethod
    def validate(cls, tool):
        problems = super().validate(tool)
        pipeline = tool.options.get("pipeline")
        if pipeline is not None and not str(pipeline).isdigit():
            problems.append(("pipeline", f"must be a whole number, got {pipeline!r}"))
        return problems
'''

CONFIG = """\
tools:
  form:
    type: webhook
    url: http://127.0.0.1:9/form
  deals:
    type: {type}
    pipeline: {pipeline}
workflows:
  w:
    stages:
      - name: form
        tool: form
      - name: deals
        tool: deals
        after: form
"""


def install(site: Path, dist: str, module: str, source: str, entry: str | None = None) -> None:
    """What ``pip install`` leaves: the module and its ``.dist-info`` with an entry point."""
    (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[baton.connectors]\n{entry or module} = {module}\n", encoding="utf-8"
    )
    (info / "RECORD").write_text("", encoding="utf-8")


def baton(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    return subprocess.run(
        [sys.executable, "-c", "from baton.probes.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def site(tmp_path: Path) -> Path:
    path = tmp_path / "site-packages"
    path.mkdir()
    return path


def test_an_installed_plugin_is_a_connector_type_like_the_built_ins(
    site: Path, tmp_path: Path
) -> None:
    install(site, "baton-pipeline-demo", "baton_pipeline_demo", GOOD)
    config = tmp_path / "baton.yaml"
    config.write_text(CONFIG.format(type="pipeline_demo", pipeline=42), encoding="utf-8")
    done = baton(site, "check-config", str(config))
    assert done.returncode == 0, done.stderr
    assert "ok" in done.stdout
    # Its own checks run when the config loads, with the file and line, like a built-in's.
    config.write_text(CONFIG.format(type="pipeline_demo", pipeline="sales"), encoding="utf-8")
    done = baton(site, "run", "w", "-c", str(config))
    assert done.returncode == 2
    assert done.stderr == (
        f"error: {config}:7: tools.deals.pipeline: must be a whole number, got 'sales'\n"
    )


def test_a_plugin_that_fails_to_import_is_named(site: Path, tmp_path: Path) -> None:
    install(site, "baton-broken", "baton_broken", "import no_such_module_anywhere\n")
    config = tmp_path / "baton.yaml"
    config.write_text(CONFIG.format(type="webhook", pipeline=1), encoding="utf-8")
    done = baton(site, "check-config", str(config))
    assert done.returncode == 2, done.stdout
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(
        "error: connector plugin 'baton_broken' = baton_broken (from baton-broken 0.1) "
        "failed to load: ModuleNotFoundError"
    )
    assert len(done.stderr.splitlines()) == 1


def test_a_plugin_cannot_take_a_built_in_name(site: Path, tmp_path: Path) -> None:
    install(site, "baton-impostor", "baton_impostor", GOOD.replace("pipeline_demo", "hubspot"))
    config = tmp_path / "baton.yaml"
    config.write_text(CONFIG.format(type="webhook", pipeline=1), encoding="utf-8")
    done = baton(site, "check-config", str(config))
    assert done.returncode == 2, done.stdout
    assert "connector type 'hubspot' is registered twice" in done.stderr
    assert "baton_impostor.PipelineDemo" in done.stderr
    assert "Traceback" not in done.stderr
