"""Baton's Slack app: the ``/baton`` slash command on top of the probe engine.

    from baton.bot import Bot, BotSettings
    bot = Bot(config=config, engine=engine, client=AsyncWebClient(token=...), db=db,
              signing_secret=secret)

Modules: ``app`` (the bolt app and its listeners), ``commands`` (parsing the text),
``blocks`` (the Block Kit builders), ``reporter`` (one run into one thread, or outside the
channel), ``scheduler`` (the scheduler of ``baton serve``: scheduled probes, digests, the
engine's tick), ``alerter`` (alerting on scheduled runs), ``digests`` (digests in Slack,
chart upload), ``actions`` / ``alert_actions`` / ``run_ui`` / ``home`` (buttons, the run
modal, the App Home), ``slack_api`` (the one wrapper for Slack calls), ``throttle``
(per-channel pacing), ``channels`` (names to IDs), ``server`` / ``serve`` (HTTP and Socket
Mode), ``workspaces`` (several workspaces over OAuth), ``manifest``, ``cli``. The bot's
tables are :mod:`baton.probes.store.bot`.
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
