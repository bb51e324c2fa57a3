"""The installation file of ``slack.oauth``: the few queries Baton adds to slack_sdk's own.

slack_sdk owns the tables (``oauth_states``, ``slack_bots``, ``slack_installations``) and
their SQL; Baton adds only these, so that the rule "only probes/store/ runs SQL" holds:

- ``prune_oauth_states``: delete the states past their expiry (slack_sdk deletes a state only
  when it is used, so every unused ``GET /slack/install`` would stay forever), and say how
  many unexpired ones are left;
- ``enterprise_of``: the Enterprise Grid organisation a workspace's installation was saved
  under (``find_bot`` matches ``enterprise_id`` exactly, and the config names a team alone).

Every function takes the ``sqlite_utils.Database`` of that file, and reads a table that is
not there yet as empty.
"""

from __future__ import annotations

import sqlite_utils

STATES_TABLE = "oauth_states"
BOTS_TABLE = "slack_bots"


def prune_oauth_states(db: sqlite_utils.Database, *, now: float) -> int:
    """Delete every state that expired by ``now``; the number of unexpired ones left."""
    if STATES_TABLE not in db.table_names():
        return 0
    with db.conn:
        db.conn.execute(f"DELETE FROM {STATES_TABLE} WHERE expire_at <= ?", [now])
    row = db.conn.execute(f"SELECT count(*) FROM {STATES_TABLE}").fetchone()
    return int(row[0])


def enterprise_of(db: sqlite_utils.Database, *, client_id: str, team_id: str) -> str | None:
    """The ``enterprise_id`` of workspace ``team_id``'s newest bot installation; ``None``
    when it has none (or is not installed)."""
    if BOTS_TABLE not in db.table_names():
        return None
    row = db.conn.execute(
        f"SELECT enterprise_id FROM {BOTS_TABLE} WHERE client_id = ? AND team_id = ? "
        "ORDER BY installed_at DESC LIMIT 1",
        [client_id, team_id],
    ).fetchone()
    return str(row[0]) if row is not None and row[0] else None


__all__ = ["enterprise_of", "prune_oauth_states"]
