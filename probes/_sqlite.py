"""Small SQLite helpers shared by the rollup, alert and schedule tables."""

from __future__ import annotations

import sqlite_utils


def create_tables(db: sqlite_utils.Database, ddl: str) -> None:
    """Run ``CREATE … IF NOT EXISTS`` statements one by one.

    Not ``executescript``: that commits whatever transaction the caller has open, which
    would break the read-decide-write transactions these tables are used in.
    """
    for statement in ddl.split(";"):
        if statement.strip():
            db.conn.execute(statement)
