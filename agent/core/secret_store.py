"""Versioned secrets in the OS keyring: one keyring service per client.

Each credential (host, user) has up to three versions - ``current``, ``pending`` (escrowed
before a change is sent) and ``previous`` - so a password that might be live on a device is
never deleted. All versions of one credential live in ONE keyring entry (``host|user``, a
JSON object), so escrow and promotion are one atomic write each, read back: a file keyring
re-parses and rewrites its whole file per operation, and per-version entries cost a 50-device
rotation eight such operations per device. Writes are group-committed: the credential
writes of many threads that queued while one keyring operation ran land in the next single
operation (one rewrite of a file keyring, agent/core/keyring_batch.py), and each caller
returns once its own entry is read back. Entries of the older per-version layout
(``host|user|version``) are still read, and moved into the new entry on its first write.

keyring cannot enumerate entries, so the store keeps an index entry (names, versions and
times, never values) in the same service. The index only lists: whether a pending version
exists is read from the credential's own entry, never from the index, so a rotation run may
defer its index writes to one at the end (``deferred_index``). After a crash mid-run the
index may lag behind the entries until the next rotate or verify touches them.

keyring's own backend selection (``PYTHON_KEYRING_BACKEND``, keyringrc.cfg) decides where the
secrets live. A plaintext or absent backend is refused: keyturn never falls back silently
(agent/core/keyring_backend.py).
"""

from __future__ import annotations

import contextlib
import json
import secrets as random_source
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from agent.core import keyring_batch
from agent.core.keyring_backend import (  # noqa: F401 (re-exported: doctor, tests)
    CRYPTFILE_PASSWORD_ENV,
    CRYPTFILE_PASSWORD_FILE_ENV,
    HEADLESS_HELP,
    LOCKED_HELP,
    KeyringSetupError,
    SecretStoreError,
    backend_name,
    open_backend,
)
from agent.core.logsetup import get_logger
from agent.core.secret import Secret

log = get_logger("secrets")

VERSIONS = ("current", "pending", "previous")
INDEX_ENTRY = "__keyturn_index__"
AUDIT_KEY_ENTRY = "__keyturn_audit_hmac_key__"


@dataclass
class _Change:
    """One credential write waiting for its batch: ``mutate`` edits the versions in place
    and says which it wrote and removed (for the index); ``done``/``error`` are its fate."""

    host: str
    user: str
    mutate: Callable[[dict[str, str]], tuple[list[str], list[str]]]
    what: str
    platform: str | None = None
    done: bool = False
    error: SecretStoreError | None = None


@dataclass(frozen=True)
class EntryInfo:
    """What ``secrets list`` may show: names, versions and times, never values."""

    host: str
    user: str
    versions: dict[str, str]  # version -> when it was written (UTC ISO)
    platform: str | None = None
    has_enable_secret: bool = False


class SecretStore:
    """The secrets of one client, in the keyring service ``keyturn/<client>``.

    Safe to share between the threads of a parallel rotation: file-backed keyrings rewrite
    one file per operation, so every read-modify-write here is serialised.
    """

    def __init__(self, client: str, *, interactive: bool = False) -> None:
        self.service = f"keyturn/{client}"
        self.backend = open_backend(interactive=interactive)
        # Credentials this instance has read or written (version -> value). The encrypted
        # file backend runs an Argon2 KDF (~0.5-1 s) per read and per write; every write is
        # still read back from the backend itself.
        self._cache: dict[str, dict[str, str]] = {}
        self._raw: dict[str, str | None] = {}  # the audit key
        self._index_cache: dict[str, dict] | None = None
        self._legacy: set[str] = set()  # credentials still (also) in per-version entries
        self._index_dirty = False
        self._deferring = 0
        self._lock = threading.RLock()  # every keyring operation
        self._queue: list[_Change] = []  # credential writes waiting for the next batch
        self._queue_lock = threading.Lock()

    def refresh(self) -> None:
        """Forget cached values (another process may have written the keyring)."""
        with self._lock:
            self._cache.clear()
            self._raw.clear()
            if not self._index_dirty:  # an unwritten index update must survive
                self._index_cache = None

    # -- credentials -------------------------------------------------------------------
    def get(self, host: str, user: str, version: str = "current") -> Secret | None:
        _check_version(version)
        value = self._versions(host, user).get(version)
        return Secret(value) if value is not None else None

    def put(
        self,
        host: str,
        user: str,
        secret: Secret,
        version: str = "current",
        *,
        platform: str | None = None,
    ) -> None:
        """Write one version; raises SecretStoreError, and reads back what it wrote, so an
        escrow that did not really land stops the rotation before the device is touched."""
        _check_version(version)
        value = secret.reveal()

        def mutate(versions: dict[str, str]) -> tuple[list[str], list[str]]:
            versions[version] = value
            return [version], []

        self._commit(_Change(host, user, mutate, version, platform))

    def drop(self, host: str, user: str, version: str) -> None:
        _check_version(version)

        def mutate(versions: dict[str, str]) -> tuple[list[str], list[str]]:
            versions.pop(version, None)
            return [], [version]

        self._commit(_Change(host, user, mutate, version))

    def promote(self, host: str, user: str) -> None:
        """pending -> current, current -> previous (the older previous is overwritten), in
        one write of the credential's entry, read back: the live password is never only in
        memory, and a crash leaves either the old or the new set of versions."""

        def mutate(versions: dict[str, str]) -> tuple[list[str], list[str]]:
            pending = versions.pop("pending", None)
            if pending is None:
                raise SecretStoreError(f"no pending secret for {user}@{host} to promote")
            written = ["current"]
            if "current" in versions:
                versions["previous"] = versions["current"]
                written.append("previous")
            versions["current"] = pending
            return written, ["pending"]

        self._commit(_Change(host, user, mutate, "current"))

    def entries(self) -> list[EntryInfo]:
        index = self._index()
        return [
            EntryInfo(
                host=item["host"],
                user=item["user"],
                versions=item["versions"],
                platform=item.get("platform"),
            )
            for item in sorted(index.values(), key=lambda i: (i["host"], i["user"]))
            if item["versions"]
        ]

    def with_pending(self) -> Iterator[EntryInfo]:
        """Credentials the index lists with an escrowed-but-unconfirmed secret."""
        return (entry for entry in self.entries() if "pending" in entry.versions)

    @contextlib.contextmanager
    def deferred_index(self) -> Iterator[None]:
        """Hold index writes until the block ends, then write the index once (a rotation
        run: one index write instead of two per device). Credential entries are written
        and read back at once as always. An index that cannot be written then is logged,
        not raised (the entries hold the truth); the next index write includes it."""
        with self._lock:
            self._deferring += 1
        try:
            yield
        finally:
            with self._lock:
                self._deferring -= 1
                if not self._deferring:
                    try:
                        self.flush_index()
                    except SecretStoreError as exc:
                        log.error(
                            "the keyring index could not be written; `secrets list` "
                            "lags until the next run: %s",
                            exc,
                        )

    def flush_index(self) -> None:
        """Write the index if it has unwritten changes; raises SecretStoreError."""
        with self._lock:
            if self._index_dirty:
                self._write(INDEX_ENTRY, json.dumps(self._index(), sort_keys=True))
                self._index_dirty = False

    # -- the audit log's HMAC key -----------------------------------------------------------
    def audit_key(self, *, create: bool = True) -> bytes | None:
        """The per-client audit HMAC key, created on first use unless ``create`` is False
        (a reading command: None when there is none yet)."""
        with self._lock:
            value = self._read(AUDIT_KEY_ENTRY)
            if value is None:
                if not create:
                    return None
                value = random_source.token_hex(32)
                self._write(AUDIT_KEY_ENTRY, value)
                self._raw[AUDIT_KEY_ENTRY] = value
        return bytes.fromhex(value)

    # -- one credential's entry ------------------------------------------------------------
    def _versions(self, host: str, user: str) -> dict[str, str]:
        """A copy of the credential's versions (cached after the first read)."""
        name = _credential_name(host, user)
        # A cached credential needs no lock: cached dicts are replaced, never changed in
        # place, so a reader does not queue behind another device's keyring write.
        cached = self._cache.get(name)
        if cached is not None:
            return dict(cached)
        with self._lock:
            if name not in self._cache:
                raw = self._get(name)
                self._cache[name] = (
                    _decode(raw, user, host)
                    if raw is not None
                    else self._legacy_versions(host, user)
                )
                self._index_repair(host, user, self._cache[name])
            return dict(self._cache[name])

    def _legacy_versions(self, host: str, user: str) -> dict[str, str]:
        # The old layout wrote the index after each value, so the index lists every
        # per-version entry worth reading (one read per listed version, once).
        item = self._index().get(f"{host}|{user}") or {}
        versions = {}
        for version in item.get("versions", {}):
            value = self._get(_legacy_name(host, user, version))
            if value is not None:
                versions[version] = value
        if versions:
            self._legacy.add(_credential_name(host, user))
        return versions

    def _commit(self, change: _Change) -> None:
        """Group commit: queue ``change``; whoever gets the lock next writes every change
        queued by then in one keyring operation (one file rewrite), read back. A device's
        escrow therefore waits for the batch that holds it, never for later ones."""
        with self._queue_lock:
            self._queue.append(change)
        with self._lock:
            if not change.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._apply(batch)
        if change.error is not None:
            raise change.error

    def _apply(self, batch: list[_Change]) -> None:
        """Apply ``batch`` in order (lock held): one write of every entry it changes, one
        read-back; then retire per-version entries of the old layout and update the index."""
        working: dict[str, dict[str, str]] = {}
        applied: list[tuple[_Change, str, list[str], list[str]]] = []
        for change in batch:
            name = _credential_name(change.host, change.user)
            try:
                before = (
                    working[name] if name in working else self._versions(change.host, change.user)
                )
                versions = dict(before)
                written, removed = change.mutate(versions)
            except SecretStoreError as exc:
                change.error, change.done = exc, True
                continue
            if versions != before:  # dropping an absent version writes nothing
                working[name] = versions
            applied.append((change, name, written, removed))
        failed = self._write_entries(working, {name: c for c, name, _, _ in applied})
        for change, name, written, removed in applied:
            change.done = True
            if name in failed:
                change.error = failed[name]
                continue
            try:
                self._index_update(
                    change.host, change.user, written=written, removed=removed,
                    platform=change.platform,
                )  # fmt: skip
            except SecretStoreError as exc:
                change.error = exc

    def _write_entries(
        self, working: dict[str, dict[str, str]], owners: dict[str, _Change]
    ) -> dict[str, SecretStoreError]:
        """Write and read back the credentials' entries; the errors, by entry name."""
        import keyring.errors

        if not working:
            return {}
        for name in working:
            self._cache.pop(name, None)
        texts = {
            name: json.dumps({"versions": versions}, sort_keys=True) if versions else None
            for name, versions in working.items()
        }
        try:
            keyring_batch.write_entries(self.backend, self.service, texts)
        except Exception as exc:
            error = SecretStoreError(f"keyring write failed: {type(exc).__name__}")
            return dict.fromkeys(working, error)
        try:
            back = keyring_batch.read_entries(self.backend, self.service, list(working))
        except Exception as exc:
            error = SecretStoreError(f"keyring read failed: {type(exc).__name__}")
            return dict.fromkeys(working, error)
        failed: dict[str, SecretStoreError] = {}
        for name, versions in working.items():
            change = owners[name]
            raw = back.get(name)
            try:
                kept = _decode(raw, change.user, change.host) if raw is not None else {}
            except SecretStoreError as exc:
                failed[name] = exc
                continue
            if kept != versions:
                failed[name] = SecretStoreError(
                    f"the keyring did not keep {change.what} for {change.user}@{change.host}"
                )
                continue
            self._cache[name] = dict(versions)
            if name in self._legacy:
                for version in VERSIONS:
                    with contextlib.suppress(keyring.errors.PasswordDeleteError, SecretStoreError):
                        self._delete(_legacy_name(change.host, change.user, version))
                self._legacy.discard(name)
        return failed

    # -- the index ---------------------------------------------------------------------------
    def _index(self) -> dict[str, dict]:
        with self._lock:
            if self._index_cache is None:
                raw = self._get(INDEX_ENTRY)
                self._index_cache = json.loads(raw) if raw else {}
            return self._index_cache

    def _index_update(
        self,
        host: str,
        user: str,
        *,
        written: Iterable[str] = (),
        removed: Iterable[str] = (),
        platform: str | None = None,
    ) -> None:
        index = self._index()
        item = index.setdefault(f"{host}|{user}", {"host": host, "user": user, "versions": {}})
        now = datetime.now(UTC).isoformat(timespec="seconds")
        item["versions"].update(dict.fromkeys(written, now))
        for version in removed:
            item["versions"].pop(version, None)
        if platform:
            item["platform"] = platform
        self._index_dirty = True
        if not self._deferring:
            self.flush_index()

    def _index_repair(self, host: str, user: str, versions: dict[str, str]) -> None:
        """During a run, make the index list what an entry really holds (a crashed run may
        have left its deferred index unwritten); outside a run reads never write."""
        if not self._deferring:
            return
        item = self._index().get(f"{host}|{user}")
        listed = set(item["versions"]) if item else set()
        if versions and listed != set(versions):
            self._index_update(
                host,
                user,
                written=sorted(set(versions) - listed),
                removed=sorted(listed - set(versions)),
            )

    # -- keyring access --------------------------------------------------------------------
    def _read(self, name: str) -> str | None:
        with self._lock:
            if name not in self._raw:
                self._raw[name] = self._get(name)
            return self._raw[name]

    def _get(self, name: str) -> str | None:
        # Reads lock too: a file backend read while another thread rewrites the file sees
        # a half-written file (configparser ParsingError).
        with self._lock:
            try:
                return self.backend.get_password(self.service, name)
            except Exception as exc:
                raise SecretStoreError(f"keyring read failed: {type(exc).__name__}") from None

    def _write(self, name: str, value: str) -> None:
        try:
            self.backend.set_password(self.service, name, value)
        except Exception as exc:
            raise SecretStoreError(f"keyring write failed: {type(exc).__name__}") from None

    def _delete(self, name: str) -> None:
        import keyring.errors

        try:
            self.backend.delete_password(self.service, name)
        except keyring.errors.PasswordDeleteError:
            pass
        except Exception as exc:
            raise SecretStoreError(f"keyring delete failed: {type(exc).__name__}") from None


def _check_version(version: str) -> None:
    if version not in VERSIONS:
        raise ValueError(f"unknown secret version {version!r}")


def _credential_name(host: str, user: str) -> str:
    return f"{host}|{user}"


def _legacy_name(host: str, user: str, version: str) -> str:
    return f"{host}|{user}|{version}"


def _decode(raw: str, user: str, host: str) -> dict[str, str]:
    try:
        versions = json.loads(raw)["versions"]
    except (ValueError, KeyError, TypeError):
        raise SecretStoreError(f"the keyring entry for {user}@{host} is unreadable") from None
    return {v: versions[v] for v in VERSIONS if isinstance(versions.get(v), str)}
