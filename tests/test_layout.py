"""One import name: ``baton``. probes/ and bot/ stay at the repository's top level and are
imported only as ``baton.probes`` / ``baton.bot`` (baton/probes and baton/bot are symlinks to
them); nothing installs or imports a top-level ``probes`` or ``bot``, so there is never a
second copy of a module under another name."""

from __future__ import annotations

import os
import re
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


def _module_imports() -> dict[str, set[str]]:
    """Each module of probes/ and bot/ → the modules of ours it imports at module level
    (``if TYPE_CHECKING:`` blocks and imports inside functions are not edges)."""
    import ast

    root = Path(__file__).resolve().parents[1]
    files = {
        ".".join(f.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): f
        for pkg in ("probes", "bot")
        for f in (root / pkg).rglob("*.py")
    }
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - node.level + 1]
                    module = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    module = (node.module or "").removeprefix("baton.")
                targets = [
                    f"{module}.{a.name}" if f"{module}.{a.name}" in files else module
                    for a in node.names
                ]
            elif isinstance(node, ast.Import):
                targets = [a.name.removeprefix("baton.") for a in node.names]
            graph[name] |= {t for t in targets if t in files and t != name}
    return graph


def test_no_import_cycles() -> None:
    graph = _module_imports()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert cycles == []  # e.g. cli ↔ cli_ops was one: shared helpers are now in cli.common


def test_the_engine_imports_no_slack_and_the_config_no_storage() -> None:
    import ast

    root = Path(__file__).resolve().parents[1]
    for path in (root / "probes").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]  # (a relative ``.slack`` is probes.config.slack)
            assert not any(n.startswith(("slack", "baton.bot")) for n in names), path
    graph = _module_imports()
    # The config, and everything it imports, holds no storage and no scheduler: the schedule
    # model (probes.config.slots) and the alert policy (probes.config.windows) are pure.
    reach, todo = set(), [m for m in graph if m.split(".")[:2] == ["probes", "config"]]
    while todo:
        for nxt in graph[todo.pop()] - reach:
            reach.add(nxt)
            todo.append(nxt)
    assert not {m for m in reach if m.startswith(("probes.store", "probes.health"))}
    for module in reach | {"probes.config"}:
        base = Path(__file__).resolve().parents[1] / module.replace(".", "/")
        source = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        text = source.read_text(encoding="utf-8")
        assert "import sqlite" not in text and "AsyncIOScheduler" not in text, module


def test_python_m_cli_has_every_engine_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "baton.probes.cli", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for command in ("run", "resume", "cleanup", "digest", "schedule", "burst"):
        assert f"\n  {command} " in done.stdout, command


def test_only_the_store_writes_sql() -> None:
    """Every table is probes/store/'s: no other module of probes/ or bot/ runs a statement."""
    root = Path(__file__).resolve().parents[1]
    statement = re.compile(
        r"\.execute(?:many)?\("
        r"|\b(?:INSERT (?:OR \w+ )?INTO|DELETE FROM|UPDATE \w+ SET|SELECT .* FROM)\b"
    )
    found = [
        f"{path.relative_to(root)}:{n}"
        for pkg in ("probes", "bot")
        for path in (root / pkg).rglob("*.py")
        if path.relative_to(root).parts[:2] != ("probes", "store")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if statement.search(line)
    ]
    assert found == [], found


#: A module longer than this says at its top, in a "Size:" paragraph, why it is one module.
LONG_MODULE = 420


def test_a_long_module_says_why_it_is_one() -> None:
    import ast

    root = Path(__file__).resolve().parents[1]
    unexplained = []
    for pkg in ("probes", "bot"):
        for path in sorted((root / pkg).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            if text.count("\n") <= LONG_MODULE:
                continue
            doc = ast.get_docstring(ast.parse(text)) or ""
            if "\nSize: " not in doc:
                unexplained.append(f"{path.relative_to(root)} ({text.count(chr(10))} lines)")
    assert unexplained == [], "add a 'Size:' paragraph to the module docstring, or split it"


#: docs/ARCHITECTURE.md's layers, top first: a module imports only from its own layer or below.
LAYERS: list[set[str]] = [
    {"cli"},
    {"bot", "demo"},
    {"bot.blocks"},
    {"engine", "observer"},
    {"diagnosis", "health"},
    {"connectors", "store", "sandbox"},
    {"config", "model", "errors", "record", "redact"},
]


def _layer(module: str) -> int:
    parts = module.split(".")
    name = ".".join(parts[:2]) if parts[0] == "bot" else parts[1] if len(parts) > 1 else ""
    if parts[0] == "bot" and name != "bot.blocks":
        name = "bot"
    for depth, layer in enumerate(LAYERS):
        if name in layer:
            return depth
    raise AssertionError(f"{module}: not in any layer of LAYERS (and docs/ARCHITECTURE.md)")


def test_every_import_goes_down_the_layers() -> None:
    upward = [
        f"{a} -> {b}"
        for a, targets in _module_imports().items()
        if a not in ("probes", "bot")
        for b in targets
        if b not in ("probes", "bot") and _layer(b) < _layer(a)
    ]
    assert upward == []
