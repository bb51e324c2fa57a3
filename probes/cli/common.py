"""What every ``baton`` command shares: exit codes, finding the config, one clean error line
instead of a traceback, the engine's set-up and the live progress line. Both command modules
(``core`` and ``ops``) import it; neither imports the other's internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import click
import httpx

from ..config import Config, load_config
from ..diagnosis.report import stage_line
from ..engine import Engine
from ..errors import BatonError, ConfigError, StoreError, UsageError
from ..model import RunResult, StageResult, Verdict
from ..store import Store, open_store

EXIT_OK, EXIT_LEAK, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3
EXIT_FOR_VERDICT = {Verdict.OK: EXIT_OK, Verdict.LEAK: EXIT_LEAK, Verdict.ERROR: EXIT_ERROR}
DEFAULT_CONFIG = "baton.yaml"

T = TypeVar("T")


def resolve_config_path(path: str | None) -> str:
    """``--config``, else ``$BATON_CONFIG``, else ``./baton.yaml``."""
    return path or os.environ.get("BATON_CONFIG") or DEFAULT_CONFIG


def load(path: str | None) -> Config:
    resolved = resolve_config_path(path)
    if path is None and not Path(resolved).exists():
        where = "BATON_CONFIG names" if os.environ.get("BATON_CONFIG") else "looked for"
        raise ConfigError(
            f"{resolved}: no such config file ({where} it); pass --config PATH, set "
            "BATON_CONFIG, or start from config.example.yaml",
            path=resolved,
        )
    return load_config(resolved)


@contextlib.contextmanager
def clean_errors() -> Iterator[None]:
    """Turn Baton's errors into one clean line on stderr and an exit code, never a traceback."""
    try:
        yield
    except ConfigError as exc:
        for line in exc.problems:
            click.echo(f"error: {line}", err=True)
        sys.exit(EXIT_USAGE)
    except (UsageError, StoreError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except BatonError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except sqlite3.OperationalError as exc:
        # e.g. "database is locked": another process held the store past the busy timeout.
        click.echo(f"error: the run store is busy or unusable ({exc}); try again", err=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        click.echo(
            "interrupted; the run is in the store: `baton resume` finishes it and cleans up",
            err=True,
        )
        sys.exit(130)


def worst_exit(results: list[RunResult]) -> int:
    """1 if any run leaked, else 3 if any could not be checked, else 0."""
    verdicts = {r.verdict for r in results}
    if Verdict.LEAK in verdicts:
        return EXIT_LEAK
    return EXIT_ERROR if Verdict.ERROR in verdicts else EXIT_OK


def check_writable(path: str, option: str) -> None:
    """Fail before any work when an output file cannot be written."""
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise UsageError(f"{option} {path}: is a directory; name a file")
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise UsageError(f"{option} {path}: not writable")


def parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {item!r}: use field=value, e.g. --set first_name=Zoë")
        out[key.strip()] = value
    return out


def store_for(config: Config) -> Store:
    return open_store(config.store)


async def with_engine(config: Config, body: Callable[[Engine], Awaitable[T]]) -> T:
    async with httpx.AsyncClient(
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50)
    ) as client:
        engine = Engine(config, store=store_for(config), client=client)
        return await body(engine)


def seams_of(config: Config) -> dict[str, dict[str, str]]:
    return {name: {s.name: wf.seam(s) for s in wf.stages} for name, wf in config.workflows.items()}


class Progress:
    """On a terminal, a live "waiting for …" line; elsewhere, a line per stage as it settles."""

    def __init__(self, seams: dict[str, str], *, enabled: bool, live: bool) -> None:
        self.seams = seams
        self.enabled = enabled
        self.live = live
        self.pending = list(seams)
        self.started = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Progress:
        if self.enabled and self.live:
            self._task = asyncio.create_task(self._spin())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._clear()

    def _clear(self) -> None:
        click.echo("\r\033[K", nl=False, err=True)

    async def _spin(self) -> None:
        frames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
        i = 0
        while True:
            waiting = ", ".join(self.seams[n] for n in self.pending) or "cleanup"
            elapsed = time.monotonic() - self.started
            done = len(self.seams) - len(self.pending)
            click.echo(
                f"\r\033[K{frames[i % len(frames)]} {done}/{len(self.seams)} decided; "
                f"waiting for {waiting} ({elapsed:.0f}s)",
                nl=False,
                err=True,
            )
            i += 1
            await asyncio.sleep(0.2)

    async def __call__(self, stage: StageResult) -> None:
        if stage.name in self.pending:
            self.pending.remove(stage.name)
        # On a terminal the live line says it all (the trail follows at the end); in a log,
        # each stage gets its line as it is decided.
        if self.enabled and not self.live:
            click.echo(stage_line(stage, self.seams.get(stage.name, stage.name)), err=True)
