"""The ``baton`` command: every sub-command is registered here, in :data:`COMMANDS`.

A command's module is imported only when that command runs (or its help is shown), so
``baton run`` never loads the Slack app, and the engine's modules never import it: the Slack
commands (serve, manifest, demo with its Slack preview) are named here by their import path.

=====================  ========================================================
``core``               run, resume, cleanup, check-config, init, sandbox
``ops``                digest, schedule, burst
``baton.bot.cli``      serve, manifest, demo
``common``             the exit codes, config loading, one-line errors
=====================  ========================================================

Exit codes (a public interface):

    0  ok           the record arrived everywhere, intact
    1  leak         a finding at some seam
    2  usage        bad config, unknown workflow/variant/field, bad arguments
    3  error        Baton could not check (a tool unreachable, credentials refused)
"""

from __future__ import annotations

import importlib

import click

from .common import (
    EXIT_ERROR,
    EXIT_FOR_VERDICT,
    EXIT_LEAK,
    EXIT_OK,
    EXIT_USAGE,
    clean_errors,
    load,
    resolve_config_path,
    worst_exit,
)

#: Every command of ``baton``: its name, and where it lives ("module:attribute").
COMMANDS: dict[str, str] = {
    "run": "baton.probes.cli.core:run",
    "resume": "baton.probes.cli.core:resume",
    "cleanup": "baton.probes.cli.core:cleanup",
    "check-config": "baton.probes.cli.core:check_config",
    "init": "baton.probes.cli.core:init",
    "sandbox": "baton.probes.cli.core:sandbox",
    "digest": "baton.probes.cli.ops:digest",
    "schedule": "baton.probes.cli.ops:schedule",
    "burst": "baton.probes.cli.ops:burst",
    "demo": "baton.bot.cli:demo",
    "serve": "baton.bot.cli:serve",
    "manifest": "baton.bot.cli:manifest",
}


class _Commands(click.Group):
    """A click group that imports a command's module when the command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return self.commands.get(cmd_name)
        module, _, attr = COMMANDS[cmd_name].partition(":")
        command = getattr(importlib.import_module(module), attr)
        if not isinstance(command, click.Command):  # pragma: no cover - a wrong table entry
            raise TypeError(f"{COMMANDS[cmd_name]} is not a click command")
        self.add_command(command, cmd_name)
        return command


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="baton")
def cli() -> None:
    """Baton: find where your automations drop the baton.

    Inject a marked test record at the top of a workflow, trace it through every tool,
    and report the first seam where it was lost, doubled or mangled.

    \b
    Example:
        baton demo
        baton run lead-to-invoice --variant paypal --config baton.yaml
    """


def command(name: str) -> click.Command:
    """The command ``name`` of ``baton`` (imported if it was not yet)."""
    with click.Context(cli) as ctx:
        found = cli.get_command(ctx, name)
    if found is None:
        raise KeyError(name)
    return found


def main() -> None:  # pragma: no cover - run as the console script
    """The ``baton`` console script."""
    cli(prog_name="baton")


__all__ = [
    "COMMANDS",
    "EXIT_ERROR",
    "EXIT_FOR_VERDICT",
    "EXIT_LEAK",
    "EXIT_OK",
    "EXIT_USAGE",
    "clean_errors",
    "cli",
    "command",
    "load",
    "main",
    "resolve_config_path",
    "worst_exit",
]
