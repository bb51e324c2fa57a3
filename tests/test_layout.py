"""One import name: ``baton``. probes/ and bot/ stay at the repository's top level and are
imported only as ``baton.probes`` / ``baton.bot`` (baton/probes and baton/bot are symlinks to
them); nothing installs or imports a top-level ``probes`` or ``bot``, so there is never a
second copy of a module under another name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import baton
import baton.bot.app
import baton.probes.engine

ROOT = Path(__file__).resolve().parents[1]


def test_the_tests_import_baton_from_this_checkout() -> None:
    # A regular package (not a namespace package made of stray site-packages/baton/ files),
    # from the source tree: edits apply without a reinstall and coverage measures these files.
    assert baton.__file__ is not None
    assert Path(baton.__file__) == ROOT / "baton" / "__init__.py"
    assert Path(baton.probes.engine.__file__).resolve() == ROOT / "probes" / "engine.py"
    assert Path(baton.bot.app.__file__).resolve() == ROOT / "bot" / "app.py"


def test_no_module_is_loaded_under_a_top_level_probes_or_bot() -> None:
    twins = sorted(name for name in sys.modules if name.partition(".")[0] in {"probes", "bot"})
    assert twins == [], f"imported as top-level packages too (two copies): {twins}"


def test_the_install_adds_only_baton(tmp_path: Path) -> None:
    """From a directory other than the checkout, as a user would: ``baton.probes`` imports,
    ``probes`` and ``bot`` do not (an editable install must not put the repository root on
    sys.path)."""
    code = (  # rename-imports: skip (the old top-level names must stay absent)
        "import importlib.util as u, baton.probes.engine as e, baton.bot.app as a\n"
        "print(u.find_spec('probes'), u.find_spec('bot'), e.__name__, a.__name__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["None", "None", "baton.probes.engine", "baton.bot.app"]
