"""The store: every table Baton keeps, in one SQLite database (WAL), and their migrations.

==============  ==========================================================================
``schema``      every table and index, as numbered migrations on ``PRAGMA user_version``
``runs``        probe runs, their stages and cleanup tasks (:class:`Store`, the engine's)
``rollup``      the hourly rollup the digests read (kept in step with finished runs)
``slots``       schedule slots claimed, the slot index, pause and resume
``alerts``      the alert state machine's state and its outbox of flips
``snoozes``     a posted alert's snoozes and its workflow's failing streaks
``presses``     every button press and modal submission (who, when, what came of it)
``bot``         the Slack bot's threads, claimed requests, scheduled runs, runs reported
                outside their channel, and who has the App Home open
``installs``    the few queries Baton adds to slack_sdk's OAuth installation file
==============  ==========================================================================

Only this package writes SQL: every other module asks it (``tests/test_layout.py`` checks).
One exception by design: with ``slack.oauth``, the workspaces' installations are
slack_sdk's own SQLite installation store, in a file of their own, their tokens encrypted
(:mod:`baton.bot.workspaces.installations`).
"""

from .runs import (
    CLEANUP_DONE,
    CLEANUP_PENDING,
    DONE,
    RUN_ACTIVE,
    RUN_FINISHED,
    RUN_INTERRUPTED,
    SETTLING,
    WAITING,
    RunRow,
    StageRow,
    Store,
    open_store,
)

__all__ = [
    "CLEANUP_DONE",
    "CLEANUP_PENDING",
    "DONE",
    "RUN_ACTIVE",
    "RUN_FINISHED",
    "RUN_INTERRUPTED",
    "SETTLING",
    "WAITING",
    "RunRow",
    "StageRow",
    "Store",
    "open_store",
]
