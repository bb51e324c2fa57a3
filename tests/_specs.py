"""The vendor documents the tests check against, kept in the repository in ``tests/specs/``
(each file's source, version and licence are in ``tests/specs/README.md``).

Every test loads them through here, so no test reads anything outside the checkout. A missing
file is an error, never a skip: a test that quietly skips for want of a file proves nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SPECS = Path(__file__).resolve().parent / "specs"


def spec_path(name: str) -> Path:
    """``tests/specs/<name>``; raises ``FileNotFoundError`` when it is not there."""
    path = SPECS / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the tests' vendor documents live in tests/specs/ "
            "(see tests/specs/README.md for where each comes from)"
        )
    return path


def load_json(name: str) -> dict[str, Any]:
    """A fresh parse of ``tests/specs/<name>`` (callers may change what they get)."""
    data: dict[str, Any] = json.loads(spec_path(name).read_text(encoding="utf-8"))
    return data


def stripe_resources() -> dict[str, Any]:
    """Stripe's example object of every resource, by kind (``customer``, ``invoice``, ...)."""
    resources: dict[str, Any] = load_json("stripe.fixtures3.json")["resources"]
    return resources
