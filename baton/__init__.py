"""Baton: probe your SaaS automations end to end and find where records leak.

``baton`` is the one import name. ``baton.probes`` is the engine (it never imports Slack);
``baton.bot`` is the Slack app on top of it; the console script ``baton`` is
``baton.probes.cli:main``. Connector plugins import ``baton.probes.connectors`` and register
through the ``baton.connectors`` entry-point group.

In the repository the two packages live at the top level, in probes/ and bot/; baton/probes
and baton/bot are relative symlinks to them, so the source tree, editable installs, mypy and
the wheel all see the same ``baton.probes`` / ``baton.bot`` modules.
"""
