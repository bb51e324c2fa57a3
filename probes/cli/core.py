"""The probe commands of ``baton``: run, resume, cleanup, check-config, init, sandbox.

They are registered, with every other command, in :mod:`baton.probes.cli`; the exit codes
(a public interface) are in :mod:`baton.probes.cli.common`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import click

from ..diagnosis.report import render_junit, render_text
from ..engine import Engine
from ..errors import UsageError
from ..model import RunResult
from ..redact import Redactor
from .common import (
    EXIT_ERROR,
    EXIT_FOR_VERDICT,
    EXIT_OK,
    Progress,
    check_writable,
    clean_errors,
    load,
    parse_sets,
    resolve_config_path,
    seams_of,
    store_for,
    with_engine,
    worst_exit,
)


@click.command()
@click.argument("workflow")
@click.option("--variant", "-v", help="A variant of the workflow, e.g. paypal.")
@click.option("--set", "sets", multiple=True, metavar="FIELD=VALUE", help="Override a field.")
@click.option("--config", "-c", "config_path", metavar="PATH", help="Config file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--junit", metavar="FILE", help="Also write a JUnit XML report.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
def run(
    workflow: str,
    variant: str | None,
    sets: tuple[str, ...],
    config_path: str | None,
    as_json: bool,
    junit: str | None,
    quiet: bool,
) -> None:
    """Probe WORKFLOW once and report where the record leaked.

    Exit code: 0 ok, 1 leak, 2 config or usage error, 3 could not check.

    \b
    Example:
        baton run lead-to-invoice --variant unicode --set first_name=Zoë --json
    """
    with clean_errors():
        if junit:
            check_writable(junit, "--junit")
        config = load(config_path)
        overrides = parse_sets(sets)
        seams = seams_of(config)
        stage_seams = seams.get(workflow, {})

        async def body(engine: Engine) -> RunResult:
            engine.prepare(workflow, variant, overrides)  # fail fast on names
            # Leftovers of earlier crashed runs are retried alongside, never delaying this one.
            leftovers = asyncio.create_task(engine.cleanup_pending())
            progress = Progress(
                dict(stage_seams),
                enabled=not quiet and not as_json,
                live=sys.stderr.isatty(),
            )
            async with progress:
                run_id = await engine.start(workflow, variant, overrides, origin={"cli": True})
                result = await engine.finish(run_id, on_progress=progress)
            await leftovers
            return result

        result = asyncio.run(with_engine(config, body))
        mask = Redactor.from_config(config)
        if as_json:
            click.echo(json.dumps(mask.scrub(result.to_json()), ensure_ascii=False, indent=2))
        else:
            click.echo(mask.text(render_text(result, stage_seams)))
        if junit:
            try:
                Path(junit).write_text(
                    mask.text(render_junit([result], seams).decode("utf-8")), encoding="utf-8"
                )
            except OSError as exc:
                raise UsageError(f"--junit {junit}: cannot write it: {exc.strerror}") from exc
        sys.exit(EXIT_FOR_VERDICT[result.verdict])


@click.command("check-config")
@click.argument("path", required=False)
@click.option("--config", "-c", "config_path", metavar="PATH", help="Config file (or PATH).")
def check_config(path: str | None, config_path: str | None) -> None:
    """Validate a config file: every problem on its own line with the key path; exit 2.

    \b
    Example:
        baton check-config baton.yaml
        baton check-config --config baton.yaml
    """
    with clean_errors():
        if path and config_path and path != config_path:
            raise UsageError(f"two config files named: {path!r} and --config {config_path!r}")
        path = path or config_path
        config = load(path)
        stages = sum(len(w.stages) for w in config.workflows.values())
        click.echo(
            f"{config.path or resolve_config_path(path)}: ok — {len(config.tools)} tools, "
            f"{len(config.workflows)} workflows, {stages} stages"
        )


@click.command()
@click.argument("path", required=False, default="baton.yaml")
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
def init(path: str, force: bool) -> None:
    """Write a commented starter config to PATH (default ./baton.yaml) and say what next.

    The starter is the example config: every key documented, and it runs as is against the
    sandbox. An existing file is never overwritten unless --force.

    \b
    Example:
        baton init
        baton init ops/baton.yaml
    """
    from ..demo import example_config_text

    with clean_errors():
        target = Path(path)
        if target.exists() and not force:
            raise UsageError(f"{path} already exists; pass --force to overwrite it")
        try:
            target.write_text(example_config_text(), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
        named = "" if path == "baton.yaml" else f" -c {path}"
        click.echo(f"wrote {path}: a starter config that runs against the sandbox as is.")
        click.echo("Next:")
        steps = [
            ("baton sandbox", "in another terminal: the stand-in tools"),
            (f"baton run lead-to-invoice{named}", "probe the example workflow"),
            (f"baton check-config{named}", "after each edit"),
        ]
        width = max(len(command) for command, _ in steps) + 2
        for command, why in steps:
            click.echo(f"  {command.ljust(width)}# {why}")
        click.echo("Then point base_url and credentials at your real tools (secrets as ${ENV}).")


@click.command()
@click.option("--config", "-c", "config_path", metavar="PATH", help="Config file.")
def cleanup(config_path: str | None) -> None:
    """Retry every cleanup that has not finished (after a crash or an outage).

    Exit code: 0 when none is left, 3 when some tool still could not be cleaned or a run
    still being watched holds some (its own end cleans it up; `baton resume --takeover`
    takes it if its process is gone).

    \b
    Example:
        baton cleanup --config baton.yaml
    """
    with clean_errors():
        config = load(config_path)

        async def body(engine: Engine) -> int:
            return await engine.cleanup_pending()

        removed = asyncio.run(with_engine(config, body))
        store = store_for(config)
        pending = store.pending_cleanup(finished_only=True)
        held = [r["id"] for r in store.active_runs()]
        # A held run's record may be in the tools (its process may even have died mid-way):
        # its tasks are still pending too, never "0 pending" while records may stay.
        waiting = [t for t in store.pending_cleanup() if t["run_id"] in held]
        click.echo(
            f"cleanup: {removed} object(s) removed, "
            f"{len(pending) + len(waiting)} cleanup task(s) still pending"
        )
        for task in pending:  # what stays where, and why
            why = task.get("last_error") or "not tried yet"
            click.echo(f"  pending: run {task['run_id']}  {task['tool']}: {why}")
        if held:
            click.echo(
                f"  {len(held)} run(s), with {len(waiting)} of those task(s), still being "
                f"watched by a live process: {', '.join(held[:10])} (their own end cleans "
                "them up; `baton resume --takeover` if that process is gone)"
            )
        sys.exit(EXIT_OK if not pending and not waiting else EXIT_ERROR)


@click.command()
@click.option("--config", "-c", "config_path", metavar="PATH", help="Config file.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of the results.")
@click.option(
    "--takeover",
    is_flag=True,
    help="Also take runs whose process still holds a lease (it is known to be gone).",
)
def resume(config_path: str | None, as_json: bool, takeover: bool) -> None:
    """Finish probe runs that a crash or restart interrupted, and clean up after them.

    Runs whose deadline is still ahead are watched to the end; the others are closed as
    interrupted (stages already seen are judged on one more look, the rest "could not
    check"). Exit code: 1 if any resumed run leaked, else 3 if any could not be checked,
    else 0.

    \b
    Example:
        baton resume --config baton.yaml
    """
    with clean_errors():
        config = load(config_path)

        held: list[tuple[str, float]] = []

        async def body(engine: Engine) -> list[RunResult]:
            results = await engine.resume_interrupted(takeover=takeover)
            await engine.cleanup_pending()
            held.extend(engine.held_runs())
            return results

        results = asyncio.run(with_engine(config, body))
        for run_id, until in held:
            when = time.strftime("%H:%M:%S", time.localtime(until))
            click.echo(
                f"{run_id}: another process is watching it (lease until {when}); if that "
                "process is gone, `baton resume --takeover`",
                err=True,
            )
        mask = Redactor.from_config(config)
        if as_json:
            rows = mask.scrub([r.to_json() for r in results])
            click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        else:
            seams = seams_of(config)
            for r in results:
                click.echo(mask.text(render_text(r, seams.get(r.workflow, {}))))
            if not results:
                click.echo("nothing to resume")
        sys.exit(worst_exit(results))


class _SandboxCommand(click.Command):
    """``baton sandbox --help`` ends with the fault grammar (built when help is asked for)."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from ..sandbox.faults import grammar_help

        formatter.write("\n")
        for line in grammar_help().splitlines():
            formatter.write(f"  {line}\n" if line else "\n")


@click.command(cls=_SandboxCommand)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="SPEC",
    help="A fault to plant: KIND[@TARGET][=ARG], e.g. swap@crm=firstname,email (see below).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
def sandbox(faults: tuple[str, ...], host: str, port: int) -> None:
    """Start the sandbox stand-ins (HubSpot, SendGrid, Stripe, a glue) for trying by hand.

    \b
    Example:
        baton sandbox --fault 'swap@crm=firstname,email' --fault 'drop@invoice=1/3'
        BATON_SANDBOX_URL=http://127.0.0.1:8765 baton run lead-to-invoice -c config.example.yaml
    """
    from ..sandbox import Sandbox

    with clean_errors():
        sb = Sandbox(faults=list(faults), host=host, port=port)
        try:
            sb.start()
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        click.echo(f"Baton sandbox listening on {sb.url}")
        for name, url in sb.urls.items():
            click.echo(f"  {name:<9} {url}")
        click.echo(f"  {'control':<9} {sb.url}/_sandbox/faults")
        if faults:
            click.echo("faults: " + ", ".join(faults))
        click.echo(
            f"Try: BATON_SANDBOX_URL={sb.url} baton run lead-to-invoice -c config.example.yaml"
        )
        click.echo("Ctrl-C to stop.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            sb.stop()


__all__ = ["check_config", "cleanup", "init", "resume", "run", "sandbox"]
