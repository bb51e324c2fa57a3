"""Baton's Slack app: the ``/baton`` slash command on top of the probe engine.

    from baton.bot import Bot, BotSettings
    bot = Bot(config=config, engine=engine, client=AsyncWebClient(token=...), db=db,
              signing_secret=secret)

Modules: ``app`` (the bolt app and its listener), ``commands`` (parsing the text),
``messages`` / ``replies`` (Block Kit builders), ``reporter`` (one run into one thread),
``schedule`` (the scheduler of ``baton serve``: scheduled probes, digests, the engine's
tick) with ``schedule_replies``, ``alerts`` (alerting on scheduled runs) with
``alert_messages``, ``digest`` (digests in Slack, chart upload) with ``digest_messages``,
``slack_api`` (the one wrapper for Slack calls), ``store`` (threads, processed requests,
scheduled runs), ``server`` / ``serve`` (HTTP and Socket Mode), ``manifest``, ``preview``,
``cli``.
"""

from .alerter import Alerter
from .app import Bot, BotSettings
from .blocks.preview import render_preview
from .blocks.run import Message, RunInfo
from .commands import parse_command
from .digests import Digests
from .manifest import build_manifest, manifest_yaml
from .redact import Redactor
from .scheduler import BotScheduler
from .slack_api import SlackApi, SlackCallError

__all__ = [
    "Alerter",
    "Bot",
    "BotScheduler",
    "BotSettings",
    "Digests",
    "Message",
    "Redactor",
    "RunInfo",
    "SlackApi",
    "SlackCallError",
    "build_manifest",
    "manifest_yaml",
    "parse_command",
    "render_preview",
]
