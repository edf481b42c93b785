"""Ordered schema migrations for the inventory store.

Each migration is a function that receives an open connection inside a transaction. The
store records how many have run in ``PRAGMA user_version``; append new migrations at the end
and never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


@migration
def create_runs(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            started TEXT NOT NULL,
            finished TEXT,
            command TEXT NOT NULL,
            operator TEXT NOT NULL,
            host TEXT NOT NULL,
            status TEXT NOT NULL
        )"""
    )


@migration
def runs_track_owner_and_summary(db: sqlite3.Connection) -> None:
    # The pid lets a later run tell a crashed run ("incomplete") from one still going;
    # the summary holds the run's headline figures for reports and log shippers.
    db.execute("ALTER TABLE runs ADD COLUMN pid INTEGER")
    db.execute("ALTER TABLE runs ADD COLUMN client TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN summary TEXT")


@migration
def create_audit_head(db: sqlite3.Connection) -> None:
    # The audit log's latest entry hash, kept outside the log so a truncated tail shows.
    db.execute(
        """CREATE TABLE audit_head (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            seq INTEGER NOT NULL,
            hash TEXT NOT NULL
        )"""
    )
