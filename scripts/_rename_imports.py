#!/usr/bin/env python3
"""Rewrite references to the old top-level packages ``probes`` and ``bot`` to ``baton.probes``
and ``baton.bot`` (one import name: ``baton``). The directories probes/ and bot/ stay where
they are; only *module paths* change, never file paths such as ``probes/engine.py``.

Re-runnable and idempotent: every pattern refuses a name that already follows a dot, so
``baton.probes.x`` is never rewritten again. Run it from anywhere:

    python scripts/_rename_imports.py            # rewrite in place, then ruff format + isort
    python scripts/_rename_imports.py --check    # exit 1 (and list them) if anything is left
    python scripts/_rename_imports.py --no-ruff  # rewrite only

What it rewrites, in every tracked or untracked-but-not-ignored text file (``.py``, ``.pyi``,
``.md``, ``.rst``, ``.txt``, ``.toml``, ``.cfg``, ``.ini``, ``.yaml``, ``.yml``, ``.sh`` and
extension-less scripts with a shebang), except CHANGELOG.md (history), tests/specs/ (vendored
third-party specs) and this script:

  import   ``from probes.x import y`` / ``from bot import y`` (code, doctests, ``-c`` strings,
           code samples in Markdown) and ``import probes.x [as z]``. For a plain
           ``import bot.serve`` (no ``as``), which binds the name ``bot``, the uses of exactly
           that module path in the same file (``bot.serve.X``) become ``baton.bot.serve.X``.
  probes   ``probes.<submodule>`` anywhere (docstrings, comments, strings, Markdown, TOML):
           ``probes`` is never a variable in this code base. Only real submodules of probes/
           count, so ``x@probes.baton-sandbox.example.com`` and ``probes/engine.py`` stay.
  bot      ``bot.<submodule>`` only where it is plainly a module path, because ``bot`` is
           also a common variable name (``bot.store.db``, ``bot.app``): right after a
           backtick (Markdown, reST roles, ``bot.cli``) or a quote (``"bot.cli:main"``), in
           entry-point syntax (``bot.cli:main``), or in a ``#`` comment when no attribute,
           call or subscript follows (``# see bot.server``).
  api      a package passed as a whole string to ``importlib.resources.files``:
           ``files("probes")`` -> ``files("baton.probes")``; ``--cov=probes``.
  toml     in pyproject.toml, under [tool.mypy], [tool.ruff*], [tool.isort], [tool.coverage*],
           [tool.pytest*], [tool.pyright]: list items that are exactly "probes" / "bot" in
           ``packages`` / ``modules`` (-> "baton.probes" / "baton.bot") and
           ``known-first-party`` (-> "baton"). [tool.hatch*] is packaging config and is left alone.

Lines containing ``rename-imports: skip`` are left alone. Not rewritten on purpose: logger
names (``logging.getLogger("bot.schedule")``: a log name, not an import), directory paths
(``probes/``), and ``bot.<name>`` in plain prose or code where ``bot`` may be a variable;
``--check`` lists those as "left for a human" without failing. Docstring and comment lines
that the longer names push past 100 characters are listed too: rewrap those by hand.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

PACKAGES = ("probes", "bot")
TEXT_SUFFIXES = {
    ".py",
    ".pyi",
    ".md",
    ".rst",
    ".txt",
    ".toml",
    ".cfg",
    ".ini",
    ".yaml",
    ".yml",
    ".sh",
}
SKIP_FILES = {"CHANGELOG.md"}
SKIP_DIRS = ("tests/specs/", ".git/")
# Sections of pyproject.toml whose list items name modules (not file paths).
TOML_TOOL_SECTIONS = re.compile(
    r"^\[\[?tool\.(mypy|ruff|isort|coverage|pytest|pyright)\b[^\]]*\]\]?\s*$"
)
# Not coverage's source_pkgs: coverage matches files by their real path, which for
# baton/probes (a symlink) is probes/, so `source_pkgs = ["baton.probes"]` measures nothing;
# `source = ["probes", "bot"]` (paths) or `--cov=baton.probes` do.
TOML_MODULE_KEYS = {"packages", "modules"}
TOML_FIRST_PARTY_KEYS = {"known-first-party", "known_first_party"}
WALK_SKIP = {"__pycache__", "build", "dist", "node_modules", "venv"}
MAX_LINE = 100  # [tool.ruff] line-length

# A name that is not the tail of a longer dotted name, path, e-mail address or option.
FREE = r"(?<![\w.@/\\-])"
NOT_LOGGER = r"(?<!getLogger\(\")(?<!getLogger\(')"


def submodules(root: Path, package: str) -> list[str]:
    """The immediate submodules of ``package`` in the tree: ``engine``, ``connectors``..."""
    base = root / package
    names = set()
    for entry in base.iterdir() if base.is_dir() else ():
        if entry.suffix == ".py" and entry.stem != "__init__":
            names.add(entry.stem)
        elif entry.is_dir() and (entry / "__init__.py").is_file():
            names.add(entry.name)
    # Longest first, so that `cli_ops` wins over `cli` in the alternation.
    return sorted(names, key=lambda n: (-len(n), n))


class Rewriter:
    def __init__(self, root: Path) -> None:
        self.root = root
        subs = {p: "|".join(map(re.escape, submodules(root, p))) or "(?!)" for p in PACKAGES}
        pkg = "|".join(PACKAGES)
        # from probes.x import y   /   from bot import y
        self.re_from = re.compile(rf"(?<![\w.])from([ \t]+)({pkg})((?:\.\w+)*)([ \t]+import\b)")
        # import probes.x [as y]  at the start of a (doctest) line, after ';' or a quote
        self.re_import = re.compile(
            rf"(?m)((?:^[ \t]*(?:>>> |\.\.\. )?|;[ \t]*|[\"'][ \t]*)import[ \t]+)"
            rf"({pkg})((?:\.\w+)*)(?=([ \t]+as[ \t]+\w+)?[ \t]*(?:[;,#\"'\\)]|$))"
        )
        self.re_probes = re.compile(rf"{NOT_LOGGER}{FREE}probes\.({subs['probes']})\b")
        self.re_bot = re.compile(rf"{NOT_LOGGER}(?<=[`\"'])bot\.({subs['bot']})\b")
        # `bot.cli:main`: entry-point syntax, a module path whatever precedes it.
        self.re_bot_entry = re.compile(rf"{FREE}bot\.({subs['bot']})(?=:\w)")
        # In a `# comment` (or a docstring line with one), `bot.<module>` not followed by an
        # attribute, call or subscript is prose about the module.
        self.re_comment = re.compile(r"(?m)#.*$")
        self.re_bot_prose = re.compile(rf"{FREE}bot\.({subs['bot']})\b(?![.(\[])")
        self.re_api = re.compile(rf"(\bfiles\(\s*[\"'])({pkg})(?=[\"'.])")
        self.re_cov = re.compile(rf"(--cov[= ])({pkg})\b(?![/\w])")
        # For --check: `bot.<submodule>` left in prose or code (maybe a variable `bot`).
        self.re_bot_loose = re.compile(rf"{FREE}bot\.({subs['bot']})\b")

    def rewrite(self, path: Path, text: str, counts: Counter[str]) -> str:
        """``text`` with its references rewritten; lines marked ``rename-imports: skip`` (say,
        a test that the old top-level names are gone) are left as they are."""
        kept: list[str] = []

        def keep(m: re.Match[str]) -> str:
            kept.append(m.group(0))
            return f"\0KEPT{len(kept) - 1}\0"

        text = re.sub(r"(?m)^.*rename-imports: skip.*$", keep, text)
        text = self.rewrite_all(path, text, counts)
        return re.sub("\0KEPT(\\d+)\0", lambda m: kept[int(m.group(1))], text)

    def rewrite_all(self, path: Path, text: str, counts: Counter[str]) -> str:
        def sub(regex: re.Pattern[str], repl: str, s: str, kind: str) -> str:
            new, n = regex.subn(repl, s)
            counts[kind] += n
            return new

        plain_imports: list[str] = []

        def on_import(m: re.Match[str]) -> str:
            if m.group(4) is None:  # `import bot.serve` binds `bot`: its uses change too
                plain_imports.append(m.group(2) + m.group(3))
            return f"{m.group(1)}baton.{m.group(2)}{m.group(3)}"

        text = sub(self.re_from, r"from\1baton.\2\3\4", text, "from-import")
        text, n = self.re_import.subn(on_import, text)
        counts["import"] += n
        if path.suffix in (".py", ".pyi"):
            for dotted in sorted(set(plain_imports), key=len, reverse=True):
                if "." not in dotted:
                    continue  # `import probes` alone: its uses are `probes.x`, handled below
                use = re.compile(rf"(?<![\w.]){re.escape(dotted)}\b")
                text = sub(use, f"baton.{dotted}", text, "plain-import use")
        text = sub(self.re_probes, r"baton.probes.\1", text, "probes.<module> reference")
        text = sub(self.re_bot, r"baton.bot.\1", text, "bot.<module> reference")
        text = sub(self.re_bot_entry, r"baton.bot.\1", text, "bot.<module> reference")
        if path.suffix in (".py", ".pyi", ".sh") or path.suffix == "":

            def in_comment(m: re.Match[str]) -> str:
                new, n = self.re_bot_prose.subn(r"baton.bot.\1", m.group(0))
                counts["bot.<module> in a comment"] += n
                return new

            text = self.re_comment.sub(in_comment, text)
        text = sub(self.re_api, r"\1baton.\2", text, "module-name string")
        text = sub(self.re_cov, r"\1baton.\2", text, "--cov")
        if path.name == "pyproject.toml":
            text = self.rewrite_pyproject(text, counts)
        return text

    def rewrite_pyproject(self, text: str, counts: Counter[str]) -> str:
        out: list[str] = []
        in_tool = False
        lines = text.splitlines(keepends=True)
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.lstrip().startswith("["):
                in_tool = bool(TOML_TOOL_SECTIONS.match(line.strip()))
            key = re.match(r"\s*([\w.-]+)\s*=\s*\[", line)
            if in_tool and key and key.group(1) in TOML_MODULE_KEYS | TOML_FIRST_PARTY_KEYS:
                # Gather the whole list (it may span lines).
                chunk = line
                while "]" not in chunk and i + 1 < len(lines):
                    i += 1
                    chunk += lines[i]
                first_party = key.group(1) in TOML_FIRST_PARTY_KEYS
                chunk = self.rewrite_toml_list(chunk, first_party, counts)
                out.append(chunk)
            else:
                out.append(line)
            i += 1
        return "".join(out)

    @staticmethod
    def rewrite_toml_list(chunk: str, first_party: bool, counts: Counter[str]) -> str:
        head, _, rest = chunk.partition("[")
        body, _, tail = rest.rpartition("]")
        items = re.findall(r"([\"'])(.*?)\1", body)
        names = [name for _, name in items]
        if not any(n in PACKAGES for n in names):
            return chunk
        quote = items[0][0]
        new: list[str] = []
        for name in names:
            if name in PACKAGES:
                name = "baton" if first_party else f"baton.{name}"
                counts["pyproject module list item"] += 1
            if name not in new:
                new.append(name)
        return f"{head}[{', '.join(quote + n + quote for n in new)}]{tail}"

    def leftovers(self, text: str) -> list[tuple[int, str]]:
        found = []
        for no, line in enumerate(text.splitlines(), 1):
            if "getLogger(" in line:
                continue
            if self.re_bot_loose.search(line):
                found.append((no, line.strip()))
        return found


def candidate_files(root: Path, me: Path) -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=True,
        ).stdout.decode()
        rels = sorted({r for r in out.split("\0") if r})
    except (OSError, subprocess.CalledProcessError):
        # Not a git checkout: walk it, skipping virtualenvs, caches and build output.
        rels = []
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            dirnames[:] = [
                d
                for d in dirnames
                if d not in WALK_SKIP
                and not (d.startswith(".") and d != ".ci")
                and not d.endswith(".egg-info")
                and not (here / d / "pyvenv.cfg").exists()
            ]
            rels += [str((here / f).relative_to(root)) for f in filenames]
        rels.sort()
    files = []
    for rel in rels:
        path = root / rel
        if (
            rel in SKIP_FILES
            or rel.startswith(SKIP_DIRS)
            or path.is_symlink()
            or not path.is_file()
            or path.resolve() == me
        ):
            continue
        if path.suffix in TEXT_SUFFIXES:
            files.append(path)
        elif not path.suffix:
            with path.open("rb") as f:
                if f.read(2) == b"#!":
                    files.append(path)
    return files


def find_ruff() -> str | None:
    beside = Path(sys.executable).parent / "ruff"  # the virtualenv's, when not on PATH
    return shutil.which("ruff") or (str(beside) if os.access(beside, os.X_OK) else None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if needed")
    parser.add_argument("--no-ruff", action="store_true", help="skip ruff format / isort")
    parser.add_argument("-v", "--verbose", action="store_true", help="per-file counts")
    args = parser.parse_args()
    root = args.root.resolve()
    rw = Rewriter(root)
    totals: Counter[str] = Counter()
    before: dict[Path, str] = {}  # changed files: their text before the rewrite
    leftovers: list[str] = []
    candidates = candidate_files(root, Path(__file__).resolve())
    for path in candidates:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        counts: Counter[str] = Counter()
        new = rw.rewrite(path, text, counts)
        rel = path.relative_to(root)
        if new != text:
            before[path] = text
            totals.update(counts)
            if args.verbose or args.check:
                detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v)
                print(f"{'would change' if args.check else 'changed'} {rel}: {detail}")
            if not args.check:
                path.write_text(new, encoding="utf-8")
        leftovers += [f"{rel}:{no}: {line}" for no, line in rw.leftovers(new)]
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(totals.items()) if v) or "nothing"
    print(f"{len(before)} files {'to rewrite' if args.check else 'rewritten'} ({summary})")
    if leftovers:
        print(f"left for a human ({len(leftovers)} lines with `bot.<module>` in prose or code,")
        print("where `bot` may be a variable):")
        for item in leftovers:
            print(f"  {item}")
    if args.check:
        return 1 if before else 0

    # Every Python file, not only the ones changed now: a run cut short after rewriting would
    # otherwise leave its import blocks unsorted for the next (no-change) run.
    py = [str(p) for p in candidates if p.suffix in (".py", ".pyi")]
    ruff = find_ruff()
    if py and not args.no_ruff:
        if ruff is None:
            print("ruff not found: run `ruff check --select I --fix . && ruff format .` yourself")
        else:
            subprocess.run([ruff, "check", "--select", "I", "--fix", "--quiet", *py], cwd=root)
            subprocess.run([ruff, "format", "--quiet", *py], cwd=root)

    # ruff format re-wraps code, not docstrings or comments: list what the rewrite made too long.
    too_long = []
    for path, text in before.items():
        if path.suffix not in (".py", ".pyi"):
            continue
        was_long = {line for line in text.splitlines() if len(line) > MAX_LINE}
        now = path.read_text(encoding="utf-8").splitlines()
        too_long += [
            f"{path.relative_to(root)}:{no}: {len(line)} > {MAX_LINE}"
            for no, line in enumerate(now, 1)
            if len(line) > MAX_LINE and line not in was_long
        ]
    if too_long:
        print(f"lines now over {MAX_LINE} characters (rewrap these docstrings/comments by hand):")
        for item in too_long:
            print(f"  {item}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
