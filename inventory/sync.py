"""Push a site's SQLite inventory into the central PostgreSQL store (``keyturn sync``).

Every table of the store is copied into the client's schema row by row, keyed by its
primary key: a row already there is updated (a run that finished since, a checklist item
marked since), so a second push changes nothing and an interrupted push is finished by
the next one (each chunk commits on its own). Parents before children (the foreign keys
decide the order). The store holds no secret by design; the audit head is not copied (the
signed log itself stays on the machine that wrote it, and a head without its log would
read as a damaged log centrally).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field

from inventory.pg import PgStore
from inventory.store import Store

CHUNK = 2000
SKIPPED = frozenset({"audit_head"})


@dataclass
class Pushed:
    """What one push copied: rows per table (inserted or updated)."""

    tables: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def push(
    source: Store, target: PgStore, progress: Callable[[str, int], None] | None = None
) -> Pushed:
    """Copy ``source`` (SQLite) into ``target`` (the same client's PostgreSQL schema)."""
    if source.schema_version != target.schema_version:
        raise sqlite3.DatabaseError(
            f"schema {source.schema_version} here, "
            f"{target.schema_version} centrally: upgrade both first"
        )
    pushed = Pushed()
    for table in _tables_in_order(source.db):
        columns = [row[1] for row in source.db.execute(f'PRAGMA table_info("{table}")')]
        names = ", ".join(columns)
        insert = (
            f"INSERT OR REPLACE INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
        )
        rows = source.db.execute(f"SELECT {names} FROM {table}")
        count = 0
        while chunk := rows.fetchmany(CHUNK):
            with target.transaction():
                target.db.executemany(insert, [tuple(row) for row in chunk])
            count += len(chunk)
            if progress is not None:
                progress(table, count)
        pushed.tables[table] = count
        if "id" in columns and count:
            # Explicit ids were written: move the identity past them.
            target.db.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT MAX(id) FROM {table}))"
            )
    return pushed


def _tables_in_order(db: sqlite3.Connection) -> list[str]:
    """The store's tables, each after the tables its foreign keys name."""
    names = [
        row[0]
        for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name"
        )
    ]
    names = [name for name in names if name not in SKIPPED]
    parents = {
        name: {row[2] for row in db.execute(f'PRAGMA foreign_key_list("{name}")')} for name in names
    }
    ordered: list[str] = []
    for name in names:
        parents[name] &= set(names)
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and parents[n] <= set(ordered) | {n}]
        if not ready:  # a cycle: keep the rest in name order
            ready = [n for n in names if n not in ordered]
        ordered.extend(ready)
    return ordered
