"""The Slack commands of ``baton``: ``serve``, ``manifest``, and ``demo`` (with its Slack preview).

They are registered, with every other command, in :mod:`baton.probes.cli`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import click

from .manifest import manifest_yaml, redirect_url_for

if TYPE_CHECKING:
    from baton.probes.config import Config


@click.command()
@click.option("--config", "-c", "config_path", metavar="PATH", help="Config file.")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="HTTP mode: the address to listen on (0.0.0.0 to accept outside connections).",
)
@click.option(
    "--port",
    default=3000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="HTTP mode: the port.",
)
@click.option(
    "--http", "force_http", is_flag=True, help="HTTP mode even if SLACK_APP_TOKEN is set."
)
@click.option(
    "-v",
    "--verbose",
    "verbosity",
    count=True,
    help="Log more: -v for info (runs, alerts, digests), -vv for debug. Default: warnings.",
)
def serve(config_path: str | None, host: str, port: int, force_http: bool, verbosity: int) -> None:
    """Run the Slack bot: Socket Mode if SLACK_APP_TOKEN is set, else HTTP on /slack/events.

    Also runs the workflows' schedules (alerts go to each schedule's channel, only when a
    workflow's state changes) and the digests of slack.digests.

    Needs SLACK_BOT_TOKEN, and SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET
    (HTTP mode), in the environment or the config's slack: section. Exits 2, with one
    line naming the variable, when one is missing or refused.

    With slack.oauth in the config it serves several workspaces instead, in HTTP mode:
    installs at /slack/install, each workspace with its own token, kept encrypted with
    BATON_TOKEN_KEY; needs SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_SIGNING_SECRET.

    \b
    Example:
        SLACK_BOT_TOKEN=xoxb-… SLACK_APP_TOKEN=xapp-… baton serve -c baton.yaml
        SLACK_BOT_TOKEN=xoxb-… SLACK_SIGNING_SECRET=… baton serve --host 0.0.0.0 --port 8080
        BATON_TOKEN_KEY=… SLACK_CLIENT_ID=… SLACK_CLIENT_SECRET=… SLACK_SIGNING_SECRET=… \
            baton serve -c agencies.yaml --host 0.0.0.0
    """
    from baton.probes.cli import clean_errors, load

    from .redact import Redactor
    from .serve import configure_logging, level_for, resolve_tokens
    from .serve import serve as run_serve

    with clean_errors():
        config = load(config_path)
        if config.slack.oauth is not None:
            _serve_workspaces(config, host=host, port=port, verbosity=verbosity)
            return
        tokens = resolve_tokens(config.slack, os.environ, force_http=force_http)
        configure_logging(
            Redactor.from_config(config, tokens.bot_token, tokens.signing_secret, tokens.app_token),
            level_for(verbosity),
        )

        _listen(run_serve(config, tokens, host=host, port=port, ready=_ready), host, port)


def _serve_workspaces(config: Config, *, host: str, port: int, verbosity: int) -> None:
    """``serve`` with ``slack.oauth``: several workspaces, installed over OAuth."""

    from .redact import Redactor
    from .serve import configure_logging, level_for
    from .workspaces import serve_workspaces
    from .workspaces.oauth import resolve_oauth

    creds = resolve_oauth(config.slack, os.environ)
    configure_logging(
        Redactor.from_config(
            config, creds.client_secret, creds.signing_secret, os.environ.get("BATON_TOKEN_KEY")
        ),
        level_for(verbosity),
    )

    _listen(serve_workspaces(config, creds, host=host, port=port, ready=_ready), host, port)


def _ready(what: str) -> None:
    click.echo(f"Baton bot {what} (Ctrl-C to stop)", err=True)


def _listen(server: Coroutine[Any, Any, None], host: str, port: int) -> None:
    """Run ``server`` until it stops; a port that cannot be had is one line (exit 2)."""
    from baton.probes.errors import UsageError

    try:
        asyncio.run(server)
    except OSError as exc:  # e.g. the port is taken
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port"
        ) from exc


@click.command()
@click.option("--command", "command", default=None, help="Slash command name [config, or /baton].")
@click.option(
    "--url",
    metavar="URL",
    help="HTTP mode: the public URL of /slack/events. Without it: a Socket Mode manifest.",
)
@click.option("--name", default="Baton", show_default=True, help="The app's display name.")
@click.option("--config", "-c", "config_path", metavar="PATH", help="Read slack.command here.")
@click.option(
    "--oauth",
    is_flag=True,
    help="Several workspaces (slack.oauth; on by itself when the config has it): adds the "
    "redirect URL, /slack/oauth_redirect on the host of --url.",
)
def manifest(
    command: str | None, url: str | None, name: str, config_path: str | None, oauth: bool
) -> None:
    """Print a Slack app manifest (YAML): the command and the scopes it needs, nothing more.

    Paste it at https://api.slack.com/apps → Create New App → From a manifest.

    \b
    Example:
        baton manifest
        baton manifest --url https://baton.example.com/slack/events
        baton manifest --oauth --url https://baton.example.com/slack/events
    """
    if config_path is not None:
        from baton.probes.cli import clean_errors, load

        with clean_errors():
            slack = load(config_path).slack
        command = command or slack.command
        oauth = oauth or slack.oauth is not None
    command = command or "/baton"
    if not command.startswith("/"):
        raise click.BadParameter(f"a slash command starts with '/', e.g. /baton, not {command!r}")
    if oauth and not url:
        raise click.UsageError(
            "OAuth installation needs HTTP mode: give --url https://<host>/slack/events"
        )
    redirect = redirect_url_for(url) if oauth and url else None
    click.echo(manifest_yaml(command, url=url, name=name, redirect_url=redirect), nl=False)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of the results.")
@click.option(
    "--slack-preview",
    is_flag=True,
    help="Show each diagnosis as the bot would post it in Slack (parent message and thread).",
)
def demo(as_json: bool, slack_preview: bool) -> None:
    """Start the sandbox and probe the example workflows, healthy and with planted faults.

    Finishes in under a minute and exits 0 when every diagnosis matched the planted fault.

    \b
    Example:
        baton demo
        baton demo --slack-preview
    """
    import sys

    from baton.probes.cli import clean_errors
    from baton.probes.demo import run_demo

    from .blocks.preview import render_preview

    with clean_errors():
        sys.exit(run_demo(as_json=as_json, render=render_preview if slack_preview else None))


__all__ = ["demo", "manifest", "serve"]
