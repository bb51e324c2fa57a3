#!/usr/bin/env python3
"""Move modules of ``probes/`` and ``bot/`` into subpackages and rewrite every reference.

Used once for issue 9's reshaping (store/, health/, diagnosis/, cli/, bot/blocks/), and kept
because it is re-runnable: run it again after merging a branch written against the old module
paths and that branch's imports follow. It is idempotent (no old path is a new path).

    python scripts/_move_modules.py            # move (git mv), rewrite, then ruff
    python scripts/_move_modules.py --check    # exit 1, listing files that still use old paths

What it does:

- ``git mv`` each file of ``MOVES`` that is still at its old path (creating packages with
  an empty ``__init__.py`` where needed);
- rewrites every ``from … import …`` / ``import …`` in the Python files of probes/, bot/,
  tests/, bench/, scripts/ and docs/ (relative imports are resolved from the file's *old*
  module and written back relative to its *new* one, when both are in the same top package);
- rewrites dotted module paths (``baton.probes.schema``) and file paths (``probes/schema.py``)
  in all other text: docstrings, comments, strings (``caplog`` logger names), Markdown.
  CHANGELOG.md (history) and tests/specs/ are left alone.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# old module -> new module (dotted, under the import name ``baton``)
MOVES: dict[str, str] = {
    # one storage layer
    "baton.probes.schema": "baton.probes.store.schema",
    "baton.probes._alert_store": "baton.probes.store.alerts",
    "baton.probes.rollup": "baton.probes.store.rollup",
    "baton.bot.store": "baton.probes.store.bot",
    # health: stats, digests, alerting, schedules (the config's own value types, ScheduleSpec
    # and AlertPolicy, are pure and live with the config: the config imports nothing above it)
    "baton.probes.stats": "baton.probes.health.stats",
    "baton.probes.digest": "baton.probes.health.digest",
    "baton.probes.alerts": "baton.probes.health.alerts",
    "baton.probes.windows": "baton.probes.config.windows",
    "baton.probes.health.windows": "baton.probes.config.windows",
    "baton.probes.schedule": "baton.probes.health.schedule",
    "baton.probes.slots": "baton.probes.config.slots",
    "baton.probes.health.slots": "baton.probes.config.slots",
    "baton.probes.chart": "baton.probes.health.chart",
    # diagnosis: classify values, compare records, decide, localise, say it
    "baton.probes._compare": "baton.probes.diagnosis.classify",
    "baton.probes.decide": "baton.probes.diagnosis.decide",
    "baton.probes.report": "baton.probes.diagnosis.report",
    # one CLI package
    "baton.probes.cli_ops": "baton.probes.cli.ops",
    "baton.probes._cli_common": "baton.probes.cli.common",
    # the bot: pure Block Kit builders in blocks/, names that say what a module is
    "baton.bot.messages": "baton.bot.blocks.run",
    "baton.bot.alert_messages": "baton.bot.blocks.alert",
    "baton.bot.digest_messages": "baton.bot.blocks.digest",
    "baton.bot.schedule_replies": "baton.bot.blocks.schedule",
    "baton.bot.replies": "baton.bot.blocks.replies",
    "baton.bot.preview": "baton.bot.blocks.preview",
    "baton.bot._format": "baton.bot.blocks.format",
    "baton.bot.run_ui_messages": "baton.bot.blocks.run_ui",
    "baton.bot.fallback_messages": "baton.bot.blocks.fallback",
    "baton.bot.alerts": "baton.bot.alerter",
    "baton.bot.digest": "baton.bot.digests",
    "baton.bot.schedule": "baton.bot.scheduler",
    # several workspaces over OAuth: one package
    "baton.bot.oauth": "baton.bot.workspaces.oauth",
    "baton.bot.installations": "baton.bot.workspaces.installations",
    "baton.bot.ticking": "baton.bot.workspaces.ticking",
}

# modules that became packages of the same name (their __init__ re-exports the old API):
# the module's code now lives in the named submodule.
IN_PLACE: dict[str, str] = {
    "baton.probes.store": "baton.probes.store.runs",
    "baton.probes.diagnosis": "baton.probes.diagnosis.findings",
    "baton.probes.cli": "baton.probes.cli.core",
    "baton.bot.workspaces": "baton.bot.workspaces.route",
}

TOPS = {"probes": "baton.probes", "bot": "baton.bot"}
SKIP = {"CHANGELOG.md", "scripts/_move_modules.py", "scripts/_rename_imports.py"}
TEXT = {".py", ".md", ".toml", ".yaml", ".yml", ".cfg", ".txt", ".sh", ""}


def path_of(module: str, package: bool = False) -> Path:
    parts = module.split(".")[1:]  # drop "baton"
    if package:
        return Path(*parts, "__init__.py")
    return Path(*parts[:-1], parts[-1] + ".py")


def module_of(rel: Path) -> str | None:
    parts = rel.with_suffix("").parts
    if not parts or parts[0] not in TOPS:
        return None
    names = list(parts)
    if names[-1] == "__init__":
        names = names[:-1]
    return "baton." + ".".join(names)


def is_package_file(rel: Path) -> bool:
    return rel.name == "__init__.py"


def new_name(module: str) -> str:
    """The module's new dotted path (itself if it did not move)."""
    for old, new in MOVES.items():
        if module == old or module.startswith(old + "."):
            return new + module[len(old) :]
    return module


def files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    result = []
    for name in out:
        rel = Path(name)
        if name in SKIP or name.startswith("tests/specs/") or name.startswith("baton/"):
            continue
        if rel.suffix not in TEXT or not (ROOT / rel).is_file():
            continue
        result.append(rel)
    return result


def resolve(current_module: str, is_pkg: bool, level: int, module: str | None) -> str:
    base = current_module.split(".")
    if not is_pkg:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def relative(from_module: str, from_is_pkg: bool, target: str) -> str | None:
    """``target`` written relative to ``from_module``, or None when in another top package."""
    pkg = from_module.split(".") if from_is_pkg else from_module.split(".")[:-1]
    tgt = target.split(".")
    if pkg[:2] != tgt[:2]:
        return None
    common = 0
    while common < min(len(pkg), len(tgt)) and pkg[common] == tgt[common]:
        common += 1
    level = len(pkg) - common + 1
    return "." * level + ".".join(tgt[common:])


def rewrite_imports(source: str, old_module: str, new_module: str, is_pkg: bool) -> str:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                if not old_module:
                    continue
                absolute = resolve(old_module, is_pkg, node.level, node.module)
            else:
                absolute = node.module or ""
            if not absolute.startswith("baton."):
                continue
            groups: dict[str, list[str]] = {}
            changed = False
            for alias in node.names:
                full = f"{absolute}.{alias.name}"
                if new_name(full) != full:  # importing a moved module by name
                    target = new_name(full)
                    parent, leaf = target.rsplit(".", 1)
                    asname = alias.asname or alias.name
                    text = leaf if asname == leaf else f"{leaf} as {asname}"
                    groups.setdefault(parent, []).append(text)
                    changed = True
                else:
                    target_mod = new_name(absolute)
                    changed |= target_mod != absolute
                    text = alias.name if not alias.asname else f"{alias.name} as {alias.asname}"
                    groups.setdefault(target_mod, []).append(text)
            if not changed and (not node.level or new_module == old_module):
                continue
            if not changed and node.level:
                # the file itself moved: its relative imports must be recomputed
                pass
            indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)  # type: ignore[union-attr]
            stmts = []
            for mod, names in groups.items():
                written = None
                if node.level:
                    written = relative(new_module, is_pkg, mod)
                stmts.append(f"{indent}from {written or mod} import {', '.join(names)}\n")
            edits.append((node.lineno, node.end_lineno or node.lineno, "".join(stmts)))
        elif isinstance(node, ast.Import):
            names = []
            changed = False
            for alias in node.names:
                target = new_name(alias.name)
                changed |= target != alias.name
                names.append(target if not alias.asname else f"{target} as {alias.asname}")
            if changed:
                indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)  # type: ignore[union-attr]
                stmt = f"{indent}import {', '.join(names)}\n"
                edits.append((node.lineno, node.end_lineno or node.lineno, stmt))
    for start, end, text in sorted(edits, reverse=True):
        lines[start - 1 : end] = [text]
    return "".join(lines)


def _dotted_pattern() -> re.Pattern[str]:
    names = sorted(MOVES, key=len, reverse=True)
    alt = "|".join(re.escape(n) for n in names)
    return re.compile(rf"(?<![\w.])({alt})(?![\w])")


def _path_pattern() -> tuple[re.Pattern[str], dict[str, str]]:
    table = {}
    for old, new in {**MOVES, **IN_PLACE}.items():
        table[str(path_of(old))] = str(path_of(new))
    alt = "|".join(re.escape(p) for p in sorted(table, key=len, reverse=True))
    return re.compile(rf"(?<![\w/.])({alt})(?![\w])"), table


def rewrite_text(text: str) -> str:
    dotted = _dotted_pattern()
    text = dotted.sub(lambda m: MOVES[m.group(1)], text)
    paths, table = _path_pattern()
    return paths.sub(lambda m: table[m.group(1)], text)


def move_files() -> dict[Path, Path]:
    """git mv every moved module still at its old place; returns new path -> old path."""
    moved: dict[Path, Path] = {}
    for old, new in {**MOVES, **IN_PLACE}.items():
        src, dst = path_of(old), path_of(new)
        if (ROOT / src).is_file() and not (ROOT / dst).exists():
            for parent in reversed(dst.parents[:-1]):
                init = ROOT / parent / "__init__.py"
                if not init.exists():
                    init.parent.mkdir(parents=True, exist_ok=True)
                    init.write_text("")
                    subprocess.run(["git", "add", str(init)], cwd=ROOT, check=True)
            subprocess.run(["git", "mv", str(src), str(dst)], cwd=ROOT, check=True)
            moved[dst] = src
    return moved


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--no-ruff", action="store_true")
    args = ap.parse_args()
    moved = {} if args.check else move_files()
    left = []
    for rel in files():
        path = ROOT / rel
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        new = text
        if rel.suffix == ".py":
            new_mod = module_of(rel) or ""
            old_rel = moved.get(rel, rel)
            old_mod = module_of(old_rel) or ""
            new = rewrite_imports(new, old_mod, new_mod, is_package_file(rel))
        new = rewrite_text(new)
        if new != text:
            if args.check:
                left.append(str(rel))
            else:
                path.write_text(new)
    if args.check:
        for name in left:
            print(name)
        return 1 if left else 0
    if not args.no_ruff:
        subprocess.run(["ruff", "check", "--fix", "--select", "I,F401", "-q", "."], cwd=ROOT)
        subprocess.run(["ruff", "format", "-q", "."], cwd=ROOT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
