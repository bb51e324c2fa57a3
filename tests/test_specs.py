"""The vendor documents kept in ``tests/specs/`` are the ones its README lists, unchanged."""

from __future__ import annotations

import hashlib
import re

import pytest
from _specs import SPECS, load_json, spec_path

README = SPECS / "README.md"
DOCUMENTS = sorted(p.name for p in SPECS.iterdir() if p.name != "README.md")


def _recorded() -> dict[str, str]:
    """``{file: sha256}`` from the README's SHA-256 block."""
    found = re.findall(r"^([0-9a-f]{64})  (\S+)$", README.read_text(encoding="utf-8"), re.M)
    return {name: digest for digest, name in found}


def test_every_document_is_listed_with_its_digest() -> None:
    assert DOCUMENTS, "tests/specs/ holds no documents"
    assert sorted(_recorded()) == DOCUMENTS
    table = README.read_text(encoding="utf-8")
    for name in DOCUMENTS:
        assert f"| `{name}` |" in table, f"{name} has no row (source, version, licence)"


@pytest.mark.parametrize("name", DOCUMENTS)
def test_document_is_the_recorded_copy(name: str) -> None:
    digest = hashlib.sha256(spec_path(name).read_bytes()).hexdigest()
    assert digest == _recorded()[name], f"{name} changed: update tests/specs/README.md"
    assert load_json(name)


def test_a_missing_document_fails_loudly() -> None:
    with pytest.raises(FileNotFoundError, match="tests/specs"):
        load_json("nope.json")
