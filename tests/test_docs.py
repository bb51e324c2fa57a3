"""Every command is documented: a docstring with an example, and a line in the README."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from baton.probes.cli import COMMANDS as TABLE
from baton.probes.cli import command as command_named

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = sorted(TABLE)


def test_the_command_list_is_complete() -> None:
    assert {"run", "check-config", "demo", "sandbox", "resume", "cleanup", "serve"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_command_has_help_with_an_example(name: str) -> None:
    command = command_named(name)
    assert isinstance(command, click.Command)
    assert command.help and "Example" in command.help, f"baton {name}: add an example"


@pytest.mark.parametrize("name", COMMANDS)
def test_command_is_in_the_readme(name: str) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"baton {name}" in readme, f"README.md does not mention `baton {name}`"


def test_every_file_the_contributing_guide_names_exists() -> None:
    import re

    guide = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:probes|bot|tests|scripts|docs)/[\w/.-]+\.(?:py|md))`", guide))
    assert len(named) > 10
    # <tool> placeholders name files a contributor creates; every other path must exist.
    missing = sorted(p for p in named if "<" not in p and not (ROOT / p).exists())
    assert missing == []


def test_every_scope_the_manifest_asks_for_is_explained_in_the_readme() -> None:
    from baton.bot.manifest import BOT_EVENTS, BOT_SCOPES

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in (*BOT_SCOPES, *BOT_EVENTS) if f"`{name}`" not in readme]
    assert missing == [], f"README.md: say why the manifest asks for {missing}"


def test_no_section_of_the_readme_is_there_twice() -> None:
    import collections

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    headings = [line for line in readme.splitlines() if line.startswith("#")]
    twice = [h for h, n in collections.Counter(headings).items() if n > 1]
    assert twice == [], f"README.md has these headings twice (a merge left a copy?): {twice}"


def test_every_runtime_dependency_is_in_the_readme_with_why() -> None:
    import re
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = [re.split(r"[<>=\[ ;]", dep, maxsplit=1)[0] for dep in project["dependencies"]]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Dependencies, and why", 1)[1].split("\n## ", 1)[0].lower()
    missing = [n for n in names if n.lower() not in table]
    assert missing == [], f"README.md's dependency table: say why Baton needs {missing}"
