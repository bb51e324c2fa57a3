"""The bad-config corpus: every file in tests/bad_configs/ must fail with a clean message.

Each file starts with comment lines that say what to expect:

    # expect: :14: workflows.lead.stages[1].tool: unknown tool 'hubspt' (did you mean 'hubspot'?)
    # not-expect: pat-na1-0f9e8d7c

Every ``expect`` is a substring of the ``ConfigError`` (``:14:`` pins the line), every
``not-expect`` must not appear (secrets are never echoed). Every problem line starts with
the file name, and nothing but ``ConfigError`` escapes: never a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from baton.probes.config import load_config
from baton.probes.errors import ConfigError

BAD = Path(__file__).parent / "bad_configs"
FILES = sorted(BAD.glob("*.yaml"))


def header(path: Path) -> dict[str, list[str]]:
    """The ``# expect:`` / ``# not-expect:`` lines at the top of ``path``."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    else:
        text = data.decode("utf-8", errors="replace")
    out: dict[str, list[str]] = {"expect": [], "not-expect": []}
    for line in text.splitlines():
        match = re.match(r"# (expect|not-expect): (.*)$", line)
        if not match:
            break
        out[match.group(1)].append(match.group(2))
    return out


def test_the_corpus_is_big_enough() -> None:
    assert len(FILES) >= 25


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_bad_config(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = header(path)
    assert expected["expect"], f"{path.name} has no '# expect:' line"
    monkeypatch.chdir(BAD)
    with pytest.raises(ConfigError) as info:
        load_config(path.name)
    error = info.value
    text = str(error)
    for want in expected["expect"]:
        assert want in text, f"{path.name}: expected {want!r} in:\n{text}"
    for unwanted in expected["not-expect"]:
        assert unwanted not in text
    assert error.path == path.name
    assert error.problems
    for problem in error.problems:
        assert re.match(rf"{re.escape(path.name)}(:\d+)?: \S", problem), problem
        assert "\n" not in problem
        assert "Traceback" not in problem


def test_header_parsing_reads_every_kind() -> None:
    # The corpus test is only as good as its header parser: prove it finds both kinds.
    parsed = header(BAD / "tool_literal_token.yaml")
    assert parsed["expect"] and parsed["not-expect"]
    assert header(BAD / "yaml_utf16.yaml")["expect"] == [
        ":1: the file is UTF-16 text; save it as UTF-8"
    ]
