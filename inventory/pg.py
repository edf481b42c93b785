"""The inventory in a central PostgreSQL database: one schema per client, the same schema
and migration history as SQLite.

The inventory's SQL is written for SQLite (inventory/*.py, inventory/migrations.py); this
module is the one place that knows PostgreSQL's dialect. ``PgConnection`` offers the part of
``sqlite3.Connection`` the inventory uses (``execute``, ``executemany``, ``in_transaction``,
rows readable by name and position, ``lastrowid``) and rewrites each statement once:

- ``?`` placeholders -> ``%s`` (and a literal ``%`` -> ``%%``), ``IN ()`` -> ``IN (NULL)``;
- ``INSERT OR REPLACE`` -> ``INSERT ... ON CONFLICT (primary key) DO UPDATE``, the key read
  from the catalogue; ``INSERT OR IGNORE`` -> ``ON CONFLICT DO NOTHING``;
- ``col = ? COLLATE NOCASE`` -> ``lower(col) = lower(%s)``; ``json_extract(c, '$.k') = 1``
  -> a jsonb test for true/1;
- DDL: ``INTEGER PRIMARY KEY`` -> an identity column, ``INTEGER`` -> ``BIGINT``, ``REAL`` ->
  ``DOUBLE PRECISION``; ``BEGIN IMMEDIATE`` -> ``BEGIN``; an ``INSERT`` into a table with
  an ``id`` gets ``RETURNING id`` for ``lastrowid``.

Each client's rows live in their own schema (``kt_<client>``): every table, query and
migration is unchanged, clients cannot see each other's rows, and the all-clients report
lists the schemas. ``PRAGMA user_version`` becomes a one-row table in that schema. Errors
surface as ``sqlite3`` exception classes, so callers catch one family.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import socket
import sqlite3
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from agent.core.errors import LockedError, OperationFailed, UsageError
from inventory.migrations import MIGRATIONS
from inventory.store import Store, utcnow

SCHEMA_PREFIX = "kt_"
_ID_TABLES = frozenset({"runs", "hosts", "findings", "rotations", "checklist_items"})


def is_url(location: str | os.PathLike | None) -> bool:
    return str(location or "").startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """The URL without its password (for messages and audit lines)."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def schema_for(client: str) -> str:
    return SCHEMA_PREFIX + client.lower().replace(".", "_").replace("-", "_")


class Row:
    """A result row readable like sqlite3.Row: by position, by column name, and ``keys()``."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: dict[str, int], values: tuple) -> None:
        self._index = index
        self._values = tuple(_plain(v) for v in values)

    def __getitem__(self, key: int | str | slice) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def keys(self) -> list[str]:
        return list(self._index)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        return tuple(self) == tuple(other) if isinstance(other, (Row, tuple)) else NotImplemented

    __hash__ = None  # rows are compared, never used as keys


def _plain(value: Any) -> Any:
    # SUM/AVG come back as Decimal; SQLite gives int or float.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _row_factory(cursor):
    names = [column.name for column in cursor.description or ()]
    index = {name: i for i, name in enumerate(names)}
    return lambda values: Row(index, values)


class Cursor:
    def __init__(self, cursor, lastrowid: int | None = None) -> None:
        self._cursor = cursor
        self.lastrowid = lastrowid
        self.rowcount = cursor.rowcount

    @property
    def description(self):
        return self._cursor.description

    def fetchone(self) -> Row | None:
        return self._cursor.fetchone() if self._cursor.description else None

    def fetchall(self) -> list[Row]:
        return self._cursor.fetchall() if self._cursor.description else []

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())


class PgConnection:
    """A psycopg 3 connection with the sqlite3.Connection surface the inventory uses."""

    def __init__(self, url: str, schema: str) -> None:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        self.schema = schema
        try:
            if "password" in conninfo_to_dict(url):
                # A URL reaches argv, configs and logs: libpq reads the password itself.
                raise UsageError(
                    "put the database password in PGPASSWORD, PGPASSFILE or "
                    "~/.pgpass, not in the store URL"
                )
            self.conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise OperationFailed(f"cannot connect to {redact(url)}: {_first_line(exc)}") from None
        self.conn.row_factory = _row_factory
        self._keys: dict[str, tuple[str, ...]] | None = None

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.conn.info.transaction_status != TransactionStatus.IDLE

    def execute(self, sql: str, params: Iterable[Any] = ()) -> Cursor:
        text, returning = self._translate(sql)
        values = [int(v) if isinstance(v, bool) else v for v in params]
        with _as_sqlite_errors():
            cursor = self.conn.execute(text, values, prepare=False)
        lastrowid = None
        if returning:
            row = cursor.fetchone()
            lastrowid = row[0] if row else None
        return Cursor(cursor, lastrowid)

    def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        text, returning = self._translate(sql)
        if returning:
            text = text.removesuffix(" RETURNING id")
        batch = [[int(v) if isinstance(v, bool) else v for v in row] for row in rows]
        if not batch:
            return
        with _as_sqlite_errors(), self.conn.cursor() as cursor:
            cursor.executemany(text, batch)

    def close(self) -> None:
        self.conn.close()

    def primary_keys(self) -> dict[str, tuple[str, ...]]:
        """Each table's primary key columns in this client's schema (read once)."""
        if self._keys is None:
            rows = self.conn.execute(
                "SELECT tc.table_name, kcu.column_name FROM information_schema.table_constraints"
                " tc JOIN information_schema.key_column_usage kcu ON kcu.constraint_name ="
                " tc.constraint_name AND kcu.table_schema = tc.table_schema WHERE"
                " tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = %s"
                " ORDER BY kcu.ordinal_position",
                (self.schema,),
            ).fetchall()
            keys: dict[str, list[str]] = {}
            for row in rows:
                keys.setdefault(row[0], []).append(row[1])
            self._keys = {table: tuple(columns) for table, columns in keys.items()}
        return self._keys

    def forget_keys(self) -> None:
        self._keys = None

    def _translate(self, sql: str) -> tuple[str, bool]:
        text, upsert_table, ignore = _translate(sql)
        if upsert_table is not None:
            text += _upsert_clause(text, self.primary_keys().get(upsert_table, ()))
        elif ignore:
            text += " ON CONFLICT DO NOTHING"
        insert = re.match(r"\s*INSERT INTO (\w+)", text, re.IGNORECASE)
        returning = bool(
            insert
            and insert.group(1).lower() in _ID_TABLES
            and "RETURNING" not in text.upper()
            and upsert_table is None
            and not ignore
        )
        return (text + " RETURNING id" if returning else text), returning


@functools.lru_cache(maxsize=512)
def _translate(sql: str) -> tuple[str, str | None, bool]:
    """(statement, table of an INSERT OR REPLACE, INSERT OR IGNORE?) in PostgreSQL's dialect."""
    text = sql.strip().rstrip(";")
    if re.fullmatch(r"BEGIN IMMEDIATE", text, re.IGNORECASE):
        return "BEGIN", None, False
    upsert = re.match(r"INSERT OR REPLACE INTO (\w+)", text, re.IGNORECASE)
    ignore = re.match(r"INSERT OR IGNORE INTO", text, re.IGNORECASE) is not None
    text = re.sub(r"^INSERT OR (REPLACE|IGNORE) INTO", "INSERT INTO", text, flags=re.IGNORECASE)
    if re.match(r"(CREATE|ALTER) TABLE", text, re.IGNORECASE):
        text = re.sub(
            r"\bINTEGER PRIMARY KEY\b",
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            text,
            flags=re.IGNORECASE,
        )
        text = re.sub(r"\bINTEGER\b", "BIGINT", text)
        text = re.sub(r"\bREAL\b", "DOUBLE PRECISION", text)
    text = re.sub(r"(\w+(?:\.\w+)?) = \? COLLATE NOCASE", r"lower(\1) = lower(?)", text)
    text = re.sub(
        r"json_extract\((\w+), '\$\.(\w+)'\) = 1",
        r"(\1::jsonb -> '\2') IN ('true'::jsonb, '1'::jsonb)",
        text,
    )
    text = re.sub(r"\bIN \(\s*\)", "IN (NULL)", text)
    return _placeholders(text), (upsert.group(1).lower() if upsert else None), ignore


def _placeholders(text: str) -> str:
    """``?`` -> ``%s`` and ``%`` -> ``%%`` outside quoted strings; ``%`` inside them too."""
    out = []
    for i, part in enumerate(re.split(r"('(?:[^']|'')*')", text)):
        part = part.replace("%", "%%")
        out.append(part if i % 2 else part.replace("?", "%s"))
    return "".join(out)


def _upsert_clause(text: str, key: tuple[str, ...]) -> str:
    columns = re.search(r"INSERT INTO \w+\s*\(([^)]*)\)", text, re.IGNORECASE)
    if not key or columns is None:
        raise sqlite3.OperationalError(f"no primary key known for: {text[:60]}")
    names = [c.strip() for c in columns.group(1).split(",")]
    updates = [f"{c} = EXCLUDED.{c}" for c in names if c not in key]
    action = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
    return f" ON CONFLICT ({', '.join(key)}) {action}"


@contextlib.contextmanager
def _as_sqlite_errors() -> Iterator[None]:
    import psycopg

    try:
        yield
    except psycopg.errors.IntegrityError as exc:
        raise sqlite3.IntegrityError(_first_line(exc)) from None
    except psycopg.OperationalError as exc:
        raise sqlite3.OperationalError(_first_line(exc)) from None
    except psycopg.Error as exc:
        raise sqlite3.DatabaseError(_first_line(exc)) from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class PgStore(Store):
    """The inventory of one client in a PostgreSQL database (schema ``kt_<client>``)."""

    def __init__(self, url: str, client: str) -> None:
        from psycopg import sql

        self.url = url
        self.client = client
        self.path = redact(url)  # type: ignore[assignment] # messages name it; no file
        self.schema = schema_for(client)
        self.db = PgConnection(url, self.schema)  # type: ignore[assignment]
        self.lock_depth = 0
        ident = sql.Identifier(self.schema).as_string(self.db.conn)
        try:
            with self.transaction():
                # One process creates and migrates a schema at a time.
                self.db.execute("SELECT pg_advisory_xact_lock(hashtext('keyturn-migrate'))")
                self.db.execute(f"CREATE SCHEMA IF NOT EXISTS {ident}")
                self.db.execute(f"SET search_path TO {ident}")
                self.db.execute("CREATE TABLE IF NOT EXISTS keyturn_schema (version BIGINT)")
                if self.db.execute("SELECT version FROM keyturn_schema").fetchone() is None:
                    self.db.execute("INSERT INTO keyturn_schema (version) VALUES (0)")
                self.migrate()
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise OperationFailed(f"{self.path}: not a usable keyturn store ({exc})") from None
        self._mark_abandoned_runs()

    def close(self) -> None:
        self.db.close()

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("SELECT version FROM keyturn_schema").fetchone()[0])

    def migrate(self) -> None:
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise OperationFailed(
                f"{self.path} was written by a newer keyturn (schema "
                f"{version}, this one knows {len(MIGRATIONS)})"
            )
        for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.transaction():
                step(self.db)
                self.db.execute("UPDATE keyturn_schema SET version = ?", (number,))
        self.db.forget_keys()

    # -- the client lock: a session advisory lock, held across machines --------------------
    @contextlib.contextmanager
    def client_lock(self, command: str) -> Iterator[str]:
        """Hold this client's advisory lock for the block (re-entrant in this process);
        raise LockedError at once when another session has it."""
        if self.lock_depth:
            self.lock_depth += 1
            try:
                yield self.schema
            finally:
                self.lock_depth -= 1
            return
        got = self.db.execute(
            "SELECT pg_try_advisory_lock(hashtext(?))", (f"keyturn/{self.schema}",)
        ).fetchone()[0]
        if not got:
            holder = self._holder()
            raise LockedError(
                f"another keyturn run holds client {self.client} in "
                f"{self.path} ({holder}); this run changed nothing - try again "
                "when it has finished"
            )
        self.lock_depth = 1
        try:
            info = {
                "pid": os.getpid(),
                "command": command,
                "host": socket.gethostname(),
                "since": utcnow(),
            }
            self.db.execute("CREATE TABLE IF NOT EXISTS keyturn_lock_holder (info TEXT)")
            self.db.execute("DELETE FROM keyturn_lock_holder")
            self.db.execute(
                "INSERT INTO keyturn_lock_holder (info) VALUES (?)", (json.dumps(info),)
            )
            yield self.schema
        finally:
            self.lock_depth = 0
            self.db.execute("SELECT pg_advisory_unlock(hashtext(?))", (f"keyturn/{self.schema}",))

    def _holder(self) -> str:
        try:
            row = self.db.execute("SELECT info FROM keyturn_lock_holder").fetchone()
            info = json.loads(row[0]) if row else None
        except (sqlite3.DatabaseError, ValueError):
            info = None
        if not info:
            return "holder unknown"
        return (
            f"'keyturn {info.get('command')}' pid {info.get('pid')} on {info.get('host')}"
            f" since {info.get('since')}"
        )


def client_schemas(url: str) -> list[str]:
    """The schemas of keyturn clients in a central database (the all-clients report)."""
    conn = PgConnection(url, "public")
    try:
        return _schemas(conn)
    finally:
        conn.close()


def _schemas(conn: PgConnection) -> list[str]:
    rows = conn.execute(
        "SELECT table_schema FROM information_schema.tables WHERE table_name ="
        " 'keyturn_schema' AND table_schema LIKE 'kt\\_%' ORDER BY 1"
    ).fetchall()
    return [row[0] for row in rows]


def client_stores(url: str) -> Iterator[tuple[str, Store]]:
    """(client, read view of its store) for every client in a central database, over ONE
    connection (the all-clients report reads hundreds of clients; nothing is migrated)."""
    from psycopg import sql

    conn = PgConnection(url, "public")
    try:
        for schema in _schemas(conn):
            conn.execute(f"SET search_path TO {sql.Identifier(schema).as_string(conn.conn)}")
            view = object.__new__(PgStore)
            view.db, view.schema, view.url = conn, schema, url  # type: ignore[assignment]
            view.path = redact(url)  # type: ignore[assignment]
            row = conn.execute("SELECT client FROM runs WHERE client IS NOT NULL LIMIT 1")
            found = row.fetchone()
            view.client = found[0] if found else schema.removeprefix(SCHEMA_PREFIX)
            view.lock_depth = 0
            yield view.client, view
    finally:
        conn.close()


def open_store(location: str | os.PathLike, client: str) -> Store:
    """A SQLite store at a path, or the client's schema in a PostgreSQL URL."""
    if is_url(location):
        return PgStore(str(location), client)
    return Store(location)
