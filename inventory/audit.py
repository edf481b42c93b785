"""The tamper-evident audit log: append-only JSON lines, hash-chained and HMAC-signed.

Each entry carries the SHA-256 of the previous line and an HMAC-SHA256 over its own canonical
form with a per-client key kept in the secret store. The newest entry's hash is also kept in
the inventory store, so cutting lines off the end is detected, not just edits in the middle;
an emptied log is detected against the store's head, an emptied store against the log.

Evidence does not heal: every write first checks the whole log against the head, and a
damaged log refuses every later write (AuditLogDamaged, exit 3) until an operator runs
``keyturn audit seal-damage``, which moves the unverifiable tail aside as an evidence file and
appends a signed entry that records the break - so ``verify`` names it from then on.
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.core import files
from agent.core.errors import OperationFailed
from agent.core.secret import json_default
from inventory.store import Store, utcnow

GENESIS = "0" * 64


KeySource = bytes | Callable[[bool], "bytes | None"]
SEAL_ACTION = "audit.seal-damage"
VERIFY_HINT = (
    "run `keyturn audit verify`; `keyturn audit seal-damage` sets the damaged part aside as "
    "evidence and starts a new segment that records the break (docs/operations.md)"
)


class AuditLogDamaged(OperationFailed):
    """The log disagrees with itself or with the head in the store: nothing is appended
    until an operator seals the damage, so no later write can make it read as intact."""


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int
    first_bad: int | None = None  # 1-based line number
    reason: str | None = None  # edited, deleted, reordered, truncated, wrong key, malformed
    valid: int = 0  # leading lines whose chain and signatures verify (kept by a seal)
    seals: tuple[int, ...] = ()  # entries that record a sealed break

    def describe(self) -> str:
        if self.ok:
            text = f"audit log intact: {self.entries} entries"
            if self.seals:
                at = ", ".join(str(seq) for seq in self.seals)
                text += f"; {len(self.seals)} sealed break(s) recorded at entry {at}"
            return text
        return f"audit log damaged at entry {self.first_bad}: {self.reason}"


class AuditLog:
    """One client's audit log file, its HMAC key and the head hash in the store.

    ``key`` is the key itself or a callable ``(create) -> key | None`` that fetches it when
    a line must be signed (create=True) or checked (create=False): verifying an empty log
    needs no key, and a reading command never creates one.
    """

    def __init__(self, path: str | Path, key: KeySource, store: Store, operator: str) -> None:
        self.path = Path(path)
        self._key_source = key
        self._key = key if isinstance(key, bytes) else None
        self.store = store
        self.operator = operator
        self._batch: _Batch | None = None
        # (size, sha256 of the file, head row) this process last found or left intact: a
        # batch whose file and head are exactly that skips the full walk.
        self._known_good: tuple[int, str, tuple[int, str] | None] | None = None

    @property
    def key(self) -> bytes:
        """The signing key (created in the secret store on first use)."""
        if self._key is None:
            self._key = self._key_source(True)
        return self._key

    def _checking_key(self) -> bytes | None:
        if self._key is None and not isinstance(self._key_source, bytes):
            self._key = self._key_source(False)
        return self._key

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
        batch ends; otherwise when this returns. Raises AuditLogDamaged (nothing written)
        when the log does not verify against the head in the store."""
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
        data = line.encode() + b"\n"
        batch.handle.seek(0, os.SEEK_END)
        batch.handle.write(data)
        batch.digest.update(data)
        batch.size += len(data)
        batch.last, batch.seq = line, entry["seq"]
        return entry

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Appends in the block share one file lock, one check of the whole log, one fsync
        and one head update at its end (a rotation run records every event that arrived
        meanwhile at once). The log is checked first against the head (chain, signatures,
        length): a damaged, truncated or emptied log, or an emptied store, raises
        AuditLogDamaged and nothing is written - the next write must never make a damaged
        log read as intact. The lines are fsynced before the head is written, so the head
        never names lines that are not on disk: a crash can leave the file ahead of the
        head, never behind it. Nested blocks join the outer one."""
        if self._batch is not None and self._batch.thread == threading.get_ident():
            yield
            return
        with _locked(self.path) as handle:
            data = _read_all(handle)
            digest = self._require_intact(data)
            with self._writing(handle, data, digest):
                yield

    def require_intact(self) -> None:
        """Raise AuditLogDamaged unless the log verifies (a mutating command calls this
        before it changes anything, so it is refused before, not after, its work)."""
        with _locked(self.path) as handle:
            self._require_intact(_read_all(handle))

    def entries(self) -> list[dict[str, Any]]:
        """Every parsable entry, oldest first (a cut-off or foreign line is skipped:
        ``verify`` names it)."""
        found = []
        for line in _read_unlocked(self.path).splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and "seq" in entry:
                found.append(entry)
        return found

    def verify(self) -> Verdict:
        return self._check(_read_unlocked(self.path))

    def seal_damage(self) -> dict[str, Any] | None:
        """Set a damaged log's unverifiable tail aside and record the break.

        The lines that verify from the start stay; the rest (edited, cut-off, foreign or
        out-of-order lines) moves byte for byte into ``<log>.damaged-<time>.jsonl`` (0600,
        never overwritten); a new entry, chained to the last good line and signed, records
        the break: the verdict, the head the store expected, the evidence file and its
        SHA-256. ``verify`` then walks one unbroken chain again and names every sealed
        break. Returns that entry, or None when the log was intact."""
        with _locked(self.path) as handle:
            data = _read_all(handle)
            verdict = self._check(data)
            if verdict.ok:
                return None
            keep = _prefix_length(data, verdict.valid)
            tail = data[keep:]
            evidence = self._save_evidence(tail) if tail else None
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())
            head = self._head()
            detail = {
                "verdict": verdict.describe(),
                "kept_entries": verdict.valid,
                "moved_lines": len(tail.splitlines()),
                "evidence": str(evidence) if evidence else None,
                "evidence_sha256": hashlib.sha256(tail).hexdigest() if tail else None,
                "head_expected": {"seq": head[0], "hash": head[1]} if head else None,
            }
            with self._writing(handle, data[:keep]):
                return self.append(SEAL_ACTION, str(self.path), "sealed", detail=detail)

    # -- checking ------------------------------------------------------------------------
    def _require_intact(self, data: bytes) -> Any:
        """Raise AuditLogDamaged unless ``data`` verifies; returns its sha256 object (a
        batch keeps it up to date instead of hashing the whole log again)."""
        digest = hashlib.sha256(data)
        if self._known_good == (len(data), digest.hexdigest(), self._head()):
            return digest
        verdict = self._check(data)
        if not verdict.ok:
            raise AuditLogDamaged(
                f"the audit log {self.path} is damaged ({verdict.describe()}); nothing was "
                f"appended: {VERIFY_HINT}"
            )
        self._known_good = (len(data), digest.hexdigest(), self._head())
        return digest

    def _head(self) -> tuple[int, str] | None:
        row = self.store.db.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
        return (int(row["seq"]), str(row["hash"])) if row is not None else None

    def _check(self, data: bytes) -> Verdict:
        """The whole log against itself (chain, signatures, order) and against the head the
        store keeps (its length and last hash): each damage named at its first line."""
        head = self._head()
        lines = data.split(b"\n")
        cut_off = lines.pop() != b""  # the bytes after the last newline: a write cut short
        if cut_off:
            lines.append(data.rsplit(b"\n", 1)[-1])
        count = len(lines)
        if not lines:
            if head is None or head[0] == 0:
                return Verdict(True, 0)
            return Verdict(False, 0, 1, _truncated(head[0], 0))
        key = self._checking_key()
        if key is None:
            return Verdict(
                False,
                count,
                1,
                "no audit key for this client in the keyring "
                "(another keyring, or the key was deleted)",
            )
        texts = [_text(line) for line in lines]
        parsed = [_parse(text) for text in texts]  # each line parsed once: ~75 us per entry
        signed = [_signed(key, entry) for entry in parsed]
        if not any(signed):
            return Verdict(
                False, count, 1, "wrong key (no entry verifies with this client's audit key)"
            )
        prev_hash, prev_seq, seals, hashes = GENESIS, 0, [], []
        for number, (text, entry) in enumerate(zip(texts, parsed, strict=True), start=1):
            bad = number - 1  # lines before this one verified
            if cut_off and number == count:
                return Verdict(False, count, number,
                               "malformed (the last line is cut off: a write did not finish)",
                               bad)  # fmt: skip
            try:
                seq = int(entry["seq"])
            except (ValueError, KeyError, TypeError):
                return Verdict(False, count, number, "malformed (not a keyturn entry)", bad)
            if seq <= prev_seq:
                return Verdict(False, count, number, f"reordered (seq {seq} after {prev_seq})", bad)
            if seq != prev_seq + 1:
                missing = f"entries {prev_seq + 1}..{seq - 1} are missing"
                return Verdict(False, count, number, f"deleted ({missing})", bad)
            if not signed[number - 1]:
                return Verdict(False, count, number, "edited (signature mismatch)", bad)
            if entry.get("prev") != prev_hash:
                return Verdict(False, count, number, "edited (chain broken before it)", bad)
            if entry.get("action") == SEAL_ACTION:
                seals.append(seq)
            prev_hash, prev_seq = _sha256(text), seq
            hashes.append(prev_hash)
        if head is None:
            return Verdict(False, count, 1, "the store holds no head hash for this log "
                           "(an emptied or replaced store)", count)  # fmt: skip
        head_seq, head_hash = head
        if head_seq > prev_seq:
            return Verdict(False, count, prev_seq + 1, _truncated(head_seq, prev_seq), count)
        # The file may be ahead of the head (a crash between fsync and the head update):
        # the line the head names must be the one the store recorded.
        if head_seq < 1 or hashes[head_seq - 1] != head_hash:
            return Verdict(False, count, max(head_seq, 1),
                           "edited (the entry the store's head names differs from it)",
                           count)  # fmt: skip
        return Verdict(True, count, valid=count, seals=tuple(seals))

    # -- writing -------------------------------------------------------------------------
    @contextlib.contextmanager
    def _writing(self, handle: Any, data: bytes, digest: Any = None) -> Iterator[None]:
        """Appends on ``handle`` (locked, holding ``data``) until the block ends; then the
        lines are made durable and the head names the last one."""
        last = _last_line(data)
        if digest is None:
            digest = hashlib.sha256(data)
        self._batch = batch = _Batch(handle, last, threading.get_ident(), digest, len(data))
        try:
            yield
        finally:
            # Whatever was written is made durable and named by the head, even when
            # the block failed part-way: the head must match the file.
            self._batch = None
            if batch.seq is not None:
                handle.flush()
                os.fsync(handle.fileno())
                head = (batch.seq, _sha256(batch.last or ""))
                with self.store.transaction() as db:
                    db.execute(
                        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)"
                        " ON CONFLICT(id) DO UPDATE SET seq = excluded.seq,"
                        " hash = excluded.hash",
                        head,
                    )
                self._known_good = (batch.size, batch.digest.hexdigest(), head)

    def _save_evidence(self, tail: bytes) -> Path:
        stamp = utcnow().replace("-", "").replace(":", "")
        for attempt in range(100):
            suffix = f"-{attempt}" if attempt else ""
            path = self.path.with_name(f"{self.path.stem}.damaged-{stamp}{suffix}.jsonl")
            try:
                with files.open_private(path, "xb") as out:
                    out.write(tail)
                    out.flush()
                    os.fsync(out.fileno())
                return path
            except files.FileExistsRefused:
                continue
        raise OperationFailed(f"cannot name an evidence file beside {self.path}")


@dataclass
class _Batch:
    """The open, locked log file while a batch of appends runs."""

    handle: Any
    last: str | None  # the newest line, in the file or written by this batch
    thread: int
    digest: Any  # sha256 of the file as it stands, kept up to date by each append
    size: int
    seq: int | None = None  # the newest entry this batch wrote


def _sign(key: bytes, entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hmac"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=json_default)
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def _parse(text: str | None) -> dict[str, Any] | None:
    try:
        entry = json.loads(text) if text is not None else None
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def _signed(key: bytes, entry: dict[str, Any] | None) -> bool:
    return entry is not None and hmac.compare_digest(str(entry.get("hmac", "")), _sign(key, entry))


def _last_line(data: bytes) -> str | None:
    """The log's newest line (None for an empty log), without copying the whole log."""
    end = len(data)
    while end and data[end - 1] == 0x0A:
        end -= 1
    line = data[data.rfind(b"\n", 0, end) + 1 : end]
    if not line.strip() and not data.strip():  # (copies the log only when it is blank)
        return None
    return line.decode()


def _sha256(line: str) -> str:
    return hashlib.sha256(line.encode()).hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[Any]:
    """Open for append-and-read under an exclusive lock: two processes never interleave.
    A private file of ours: 0600, never through a symlink (agent/core/files.py)."""
    with files.open_private(path, "r+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield handle


def _read_all(handle: Any) -> bytes:
    handle.seek(0)
    return handle.read()


def _read_unlocked(path: Path) -> bytes:
    """The file for a reader: under a shared lock (never half of a batch's write), created
    by nobody, never through a symlink."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return b""
    with os.fdopen(fd, "rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        return handle.read()


def _text(line: bytes) -> str | None:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _truncated(expected: int, found: int) -> str:
    return f"truncated (the store expects {expected} entries, the file has {found})"


def _prefix_length(data: bytes, lines: int) -> int:
    """Bytes of ``data`` up to the end of its first ``lines`` lines (newline included)."""
    end = 0
    for _ in range(lines):
        end = data.index(b"\n", end) + 1
    return end
