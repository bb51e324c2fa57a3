"""Several workspaces (agencies): the app installed over OAuth, one bot per workspace.

==================  ======================================================================
``route``           ``Workspaces``: after the signature check, each request goes by its
                    ``team_id`` to that workspace's bot; ``serve_workspaces`` runs it all
``scope``           what one workspace sees: ``for_workspace`` (its config),
                    ``ScopedEngine`` and ``ScopedResults`` (its runs alone)
``oauth``           ``/slack/install`` and ``/slack/oauth_redirect`` (bolt's
                    ``AsyncOAuthFlow``), the credentials from config or environment
``installations``   slack_sdk's SQLite installation store, every token encrypted (Fernet,
                    ``BATON_TOKEN_KEY``)
``ticking``         one tick for the process, whatever the number of workspaces
==================  ======================================================================

With one bot token (``SLACK_BOT_TOKEN``) none of this runs.
"""

from .route import BotFactory, Workspaces, serve_workspaces
from .scope import ScopedEngine, ScopedResults, for_workspace, workspaces_of

__all__ = [
    "BotFactory",
    "ScopedEngine",
    "ScopedResults",
    "Workspaces",
    "for_workspace",
    "serve_workspaces",
    "workspaces_of",
]
