"""The tamper-evident audit log: append-only JSON lines, hash-chained and HMAC-signed.

Each entry carries the SHA-256 of the previous line and an HMAC-SHA256 over its own canonical
form with a per-client key kept in the secret store. The newest entry's hash is also kept in
the inventory store, so cutting lines off the end is detected, not just edits in the middle.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.core.secret import json_default
from inventory.store import Store, utcnow

GENESIS = "0" * 64


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int
    first_bad: int | None = None  # 1-based line number
    reason: str | None = None  # edited, deleted, reordered, truncated, wrong key, malformed

    def describe(self) -> str:
        if self.ok:
            return f"audit log intact: {self.entries} entries"
        return f"audit log damaged at entry {self.first_bad}: {self.reason}"


class AuditLog:
    """One client's audit log file, its HMAC key and the head hash in the store."""

    def __init__(self, path: str | Path, key: bytes, store: Store, operator: str) -> None:
        self.path = Path(path)
        self.key = key
        self.store = store
        self.operator = operator
        self._batch: _Batch | None = None

    def append(
        self,
        action: str,
        target: str,
        outcome: str,
        *,
        run_id: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append one event. ``detail`` must hold no secret: Secrets serialise as ********.
        Inside ``batch()`` (on the thread that opened it) the line is durable when the
        batch ends; otherwise when this returns."""
        batch = self._batch
        if batch is None or batch.thread != threading.get_ident():
            with self.batch():
                return self.append(action, target, outcome, run_id=run_id, detail=detail)
        previous = json.loads(batch.last) if batch.last else None
        entry = {
            "seq": previous["seq"] + 1 if previous else 1,
            "time": utcnow(),
            "operator": self.operator,
            "host": socket.gethostname(),
            "run_id": run_id,
            "action": action,
            "target": target,
            "outcome": outcome,
            "detail": detail or {},
            "prev": _sha256(batch.last) if batch.last else GENESIS,
        }
        entry["hmac"] = _sign(self.key, entry)
        line = json.dumps(entry, sort_keys=True, default=json_default)
        batch.handle.seek(0, os.SEEK_END)
        batch.handle.write(line.encode() + b"\n")
        batch.last, batch.seq = line, entry["seq"]
        return entry

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Appends in the block share one file lock, one fsync and one head update at its
        end (a rotation run records every event that arrived meanwhile at once). The lines
        are fsynced before the head is written, so the head never names lines that are not
        on disk: a crash can leave the file ahead of the head, never behind it. Nested
        blocks join the outer one."""
        if self._batch is not None and self._batch.thread == threading.get_ident():
            yield
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(self.path) as handle:
            self._batch = batch = _Batch(handle, _last_line(handle), threading.get_ident())
            try:
                yield
            finally:
                # Whatever was written is made durable and named by the head, even when
                # the block failed part-way: the head must match the file.
                self._batch = None
                if batch.seq is not None:
                    handle.flush()
                    os.fsync(handle.fileno())
                    with self.store.transaction() as db:
                        db.execute(
                            "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)"
                            " ON CONFLICT(id) DO UPDATE SET seq = excluded.seq,"
                            " hash = excluded.hash",
                            (batch.seq, _sha256(batch.last or "")),
                        )

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def verify(self) -> Verdict:
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        head = self.store.db.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
        signed = [_signature_ok(self.key, line) for line in lines]
        if lines and not any(signed):
            return Verdict(
                False, len(lines), 1, "wrong key (no entry verifies with this client's audit key)"
            )
        prev_hash, prev_seq = GENESIS, 0
        for number, line in enumerate(lines, start=1):
            try:
                entry = json.loads(line)
                seq = int(entry["seq"])
            except (ValueError, KeyError, TypeError):
                return Verdict(False, len(lines), number, "malformed (not a keyturn entry)")
            if seq <= prev_seq:
                return Verdict(False, len(lines), number, f"reordered (seq {seq} after {prev_seq})")
            if seq != prev_seq + 1:
                return Verdict(
                    False,
                    len(lines),
                    number,
                    f"deleted (entries {prev_seq + 1}..{seq - 1} are missing)",
                )
            if not signed[number - 1]:
                return Verdict(False, len(lines), number, "edited (signature mismatch)")
            if entry.get("prev") != prev_hash:
                return Verdict(False, len(lines), number, "edited (chain broken before it)")
            prev_hash, prev_seq = _sha256(line), seq
        if head is not None and (head["seq"] != prev_seq or head["hash"] != prev_hash):
            if head["seq"] > prev_seq:
                return Verdict(
                    False,
                    len(lines),
                    prev_seq + 1,
                    f"truncated (the store expects {head['seq']} entries, the file has {prev_seq})",
                )
            return Verdict(
                False,
                len(lines),
                len(lines),
                "edited (last entry differs from the head hash kept in the store)",
            )
        if head is None and lines:
            return Verdict(False, len(lines), 1, "the store holds no head hash for this log")
        return Verdict(True, len(lines))


@dataclass
class _Batch:
    """The open, locked log file while a batch of appends runs."""

    handle: Any
    last: str | None  # the newest line, in the file or written by this batch
    thread: int
    seq: int | None = None  # the newest entry this batch wrote


def _sign(key: bytes, entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hmac"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=json_default)
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def _signature_ok(key: bytes, line: str) -> bool:
    try:
        entry = json.loads(line)
    except ValueError:
        return False
    return isinstance(entry, dict) and hmac.compare_digest(
        str(entry.get("hmac", "")), _sign(key, entry)
    )


def _sha256(line: str) -> str:
    return hashlib.sha256(line.encode()).hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[Any]:
    """Open for append-and-read under an exclusive lock: two processes never interleave."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield handle


def _last_line(handle: Any) -> str | None:
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    if size == 0:
        return None
    block = min(size, 65536)
    while True:
        handle.seek(size - block)
        tail = handle.read(block).rstrip(b"\n")
        if b"\n" in tail or block == size:
            return tail.rsplit(b"\n", 1)[-1].decode()
        block = min(size, block * 2)
