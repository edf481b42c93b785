"""The inventory store: one SQLite file per client, migrated by version number.

Writes go through transactions; WAL journaling means a crash mid-run leaves the file intact
and the run row with status ``running``, which the next open marks ``incomplete``.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import socket
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.core import files, procs
from agent.core.errors import OperationFailed
from inventory.migrations import MIGRATIONS


class RunStatus(enum.StrEnum):
    """A run's status; stored as its value."""

    RUNNING = "running"  # still going (or crashed: the next open decides)
    OK = "ok"
    FINDINGS = "findings"  # done, and the run found something to report
    PARTIAL = "partial"  # done, some targets failed
    FAILED = "failed"  # did not complete
    INCOMPLETE = "incomplete"  # its process died mid-run


# The one "finished run" condition: a run that completed, with or without findings. Every
# "newest run of a kind" query uses it (readers never take a half-written run's rows).
UNFINISHED = (RunStatus.RUNNING, RunStatus.INCOMPLETE, RunStatus.FAILED)


def in_chunks(values: Sequence[Any]) -> Iterator[tuple[Sequence[Any], str]]:
    """``values`` in slices an ``IN (...)`` list can take, each with its placeholders
    (``?, ?, ...``): SQLite's default limit is 999 parameters a statement."""
    for start in range(0, len(values), 500):
        chunk = values[start : start + 500]
        yield chunk, ", ".join("?" * len(chunk))


def finished(column: str = "status") -> str:
    """The SQL condition "run finished" on ``column`` (e.g. ``r.status`` in a join)."""
    return f"{column} NOT IN ({', '.join(repr(str(s)) for s in UNFINISHED)})"


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Run:
    id: int
    started: str
    finished: str | None
    command: str
    operator: str
    host: str
    status: str
    summary: dict[str, Any] | None


class Store:
    """An open inventory. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            # A map of the client's network and its admin accounts: created 0600 in a 0700
            # folder, never through a symlink, never another user's file. SQLite gives its
            # -wal and -shm files the mode of the database file.
            try:
                files.prepare_private(self.path)
            except OSError as exc:
                raise OperationFailed(
                    f"cannot create the store {self.path}: {exc.strerror}"
                ) from exc
        try:
            self.db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA foreign_keys = ON")
            if str(path) != ":memory:":
                self.db.execute("PRAGMA journal_mode = WAL")
                problem = self.quick_check()
                if problem != "ok":
                    raise OperationFailed(
                        f"{path}: the store is damaged ({problem}): restore it from a backup"
                    )
            self.migrate()
        except sqlite3.DatabaseError as exc:
            raise OperationFailed(f"{path}: not a usable keyturn store ({exc})") from exc
        self._mark_abandoned_runs()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    def quick_check(self) -> str:
        """SQLite's PRAGMA quick_check: "ok", or its first complaint. Run at every open
        (about 2 ms per MB): a damaged page must be one line, not a crash in the middle of
        a report or a rotation's bookkeeping."""
        rows = self.db.execute("PRAGMA quick_check(1)").fetchall()
        problem = str(rows[0][0]) if rows else "ok"
        # "*** in database main ***\nPage 32: ..." -> "Page 32: ..." (one line for the CLI)
        return " ".join(problem.replace("*** in database main ***", "").split())

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> None:
        """Apply every migration newer than the file's version, each in its own transaction."""
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise OperationFailed(
                f"{self.path} was written by a newer keyturn (schema {version}, this one knows "
                f"{len(MIGRATIONS)})"
            )
        for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.transaction():
                step(self.db)
                self.db.execute(f"PRAGMA user_version = {number}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception; nests as a savepoint."""
        if self.db.in_transaction:
            self.db.execute("SAVEPOINT nested")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK TO nested")
                raise
            finally:
                self.db.execute("RELEASE nested")
            return
        # BEGIN and COMMIT inside the try: a signal handler that raises (discover's SIGTERM)
        # can land between any two statements, and one landing right after BEGIN or right
        # before COMMIT left the connection in a transaction that every later "transaction"
        # joined as a savepoint and the exit rolled back (a partial run, its audit head and
        # its checklist items lost while its audit lines stayed: the log read as damaged).
        try:
            self.db.execute("BEGIN IMMEDIATE")
            yield self.db
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    def begin_run(self, command: str, operator: str, client: str | None = None) -> int:
        with self.transaction():
            cursor = self.db.execute(
                "INSERT INTO runs (started, command, operator, host, status, pid, client)"
                " VALUES (?, ?, ?, ?, 'running', ?, ?)",
                (utcnow(), command, operator, socket.gethostname(), os.getpid(), client),
            )
        return int(cursor.lastrowid)

    def finish_run(self, run_id: int, status: str, summary: dict[str, Any] | None = None) -> None:
        if status not in RunStatus.__members__.values():
            raise ValueError(f"unknown run status {status!r}")
        with self.transaction():
            self.db.execute(
                "UPDATE runs SET finished = ?, status = ?, summary = ? WHERE id = ?",
                (utcnow(), status, json.dumps(summary) if summary is not None else None, run_id),
            )

    @contextlib.contextmanager
    def run(self, command: str, operator: str, client: str | None = None) -> Iterator[int]:
        """A run row that ends ``failed`` if the block raises; the block sets the final status
        itself with :meth:`finish_run`, otherwise the run ends ``ok``."""
        run_id = self.begin_run(command, operator, client)
        try:
            yield run_id
        except BaseException:
            self.finish_run(run_id, "failed")
            raise
        if self.get_run(run_id).status == "running":
            self.finish_run(run_id, "ok")

    def clients(self) -> list[str]:
        """The client names this store's runs were recorded for (normally exactly one)."""
        rows = self.db.execute("SELECT DISTINCT client FROM runs WHERE client IS NOT NULL")
        return sorted(row[0] for row in rows)

    def get_run(self, run_id: int) -> Run:
        row = self.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise OperationFailed(f"no run {run_id} in {self.path}")
        return _run(row)

    def runs(self, command: str | None = None) -> list[Run]:
        query = "SELECT * FROM runs" + (" WHERE command = ?" if command else "") + " ORDER BY id"
        return [_run(row) for row in self.db.execute(query, (command,) if command else ())]

    def latest_run(self, command: str | None = None, *, before: int | None = None) -> Run | None:
        """The newest finished run (optionally of one command, optionally older than ``before``)."""
        clauses, args = [finished()], []
        if command:
            clauses.append("command = ?")
            args.append(command)
        if before is not None:
            clauses.append("id < ?")
            args.append(before)
        row = self.db.execute(
            f"SELECT * FROM runs WHERE {' AND '.join(clauses)} ORDER BY id DESC LIMIT 1", args
        ).fetchone()
        return _run(row) if row else None

    def _mark_abandoned_runs(self) -> None:
        """Runs left ``running`` by a process that no longer exists become ``incomplete``."""
        host = socket.gethostname()
        rows = self.db.execute("SELECT id, pid, host FROM runs WHERE status = 'running'").fetchall()
        dead = [row["id"] for row in rows if row["host"] == host and not procs.running(row["pid"])]
        if dead:
            with self.transaction():
                self.db.executemany(
                    "UPDATE runs SET status = 'incomplete' WHERE id = ?", [(i,) for i in dead]
                )


def _run(row: sqlite3.Row) -> Run:
    return Run(
        id=row["id"],
        started=row["started"],
        finished=row["finished"],
        command=row["command"],
        operator=row["operator"],
        host=row["host"],
        status=row["status"],
        summary=json.loads(row["summary"]) if row["summary"] else None,
    )
