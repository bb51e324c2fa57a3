"""The store: every table Baton keeps, in one SQLite database (WAL), and their migrations.

==============  ==========================================================================
``schema``      every table and index, as numbered migrations on ``PRAGMA user_version``
``runs``        probe runs, their stages and cleanup tasks (:class:`Store`, the engine's)
``rollup``      the hourly rollup the digests read (kept in step with finished runs)
``slots``       schedule slots claimed, the slot index, pause and resume
``alerts``      the alert state machine's state and its outbox of flips
``bot``         the Slack bot's threads, claimed requests and scheduled runs
==============  ==========================================================================

Only this package writes SQL. Every other module asks it.
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
