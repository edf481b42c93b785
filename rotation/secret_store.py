"""Versioned secrets in the OS keyring: one keyring service per client.

Each credential (host, user) has up to three versions - ``current``, ``pending`` (escrowed
before a change is sent) and ``previous`` - so a password that might be live on a device is
never deleted. keyring cannot enumerate entries, so the store keeps an index entry (names,
versions and times, never values) in the same service.

keyring's own backend selection (``PYTHON_KEYRING_BACKEND``, keyringrc.cfg) decides where the
secrets live. A plaintext or absent backend is refused: keyturn never falls back silently.
"""

from __future__ import annotations

import json
import os
import secrets as random_source
import stat
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agent.errors import OperationFailed
from agent.secret import Secret

VERSIONS = ("current", "pending", "previous")
INDEX_ENTRY = "__keyturn_index__"
AUDIT_KEY_ENTRY = "__keyturn_audit_hmac_key__"
CRYPTFILE_PASSWORD_ENV = "KEYRING_CRYPTFILE_PASSWORD"  # noqa: S105 (a variable name)
CRYPTFILE_PASSWORD_FILE_ENV = "KEYTURN_KEYRING_PASSWORD_FILE"  # noqa: S105

# Backends that store secrets readable by anyone who can read the file.
_PLAINTEXT_BACKENDS = ("PlaintextKeyring", "fail.Keyring", "null.Keyring")

HEADLESS_HELP = (
    "no usable keyring backend. On a headless jump host use the encrypted file backend: "
    "export PYTHON_KEYRING_BACKEND=keyrings.cryptfile.cryptfile.CryptFileKeyring and "
    f"{CRYPTFILE_PASSWORD_ENV} (or {CRYPTFILE_PASSWORD_FILE_ENV}=a root-only file); "
    "see docs/jump-host.md"
)


class SecretStoreError(OperationFailed):
    """The keyring could not be read or written; nothing was changed on any device."""


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
        # Values this instance has read or written. The encrypted-file backend runs an
        # Argon2 KDF (~0.5-1 s) per read and per write, and one rotation touches the same
        # entries several times; put() still reads back from the backend itself.
        self._cache: dict[str, str | None] = {}
        self._lock = threading.RLock()

    def refresh(self) -> None:
        """Forget cached values (another process may have written the keyring)."""
        with self._lock:
            self._cache.clear()

    # -- credentials -------------------------------------------------------------------
    def get(self, host: str, user: str, version: str = "current") -> Secret | None:
        value = self._read(_entry_name(host, user, version))
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
        name = _entry_name(host, user, version)
        with self._lock:
            self._write(name, secret.reveal())
            if self._read(name, cached=False) != secret.reveal():
                self._cache.pop(name, None)
                raise SecretStoreError(f"the keyring did not keep {version} for {user}@{host}")
            self._index_update(host, user, version, written=True, platform=platform)

    def drop(self, host: str, user: str, version: str) -> None:
        with self._lock:
            self._delete(_entry_name(host, user, version))
            self._index_update(host, user, version, written=False)

    def promote(self, host: str, user: str) -> None:
        """pending -> current, current -> previous (the older previous is overwritten).

        Order matters for a crash in between: previous is written first, then current (read
        back), and pending is dropped last, so the live password is never only in memory.
        The index is written once (each keyring write costs a KDF run on encrypted files).
        """
        with self._lock:
            pending = self.get(host, user, "pending")
            if pending is None:
                raise SecretStoreError(f"no pending secret for {user}@{host} to promote")
            current = self.get(host, user, "current")
            written = ["current"]
            if current is not None:
                self._write(_entry_name(host, user, "previous"), current.reveal())
                written.append("previous")
            name = _entry_name(host, user, "current")
            self._write(name, pending.reveal())
            if self._read(name, cached=False) != pending.reveal():
                self._cache.pop(name, None)
                raise SecretStoreError(f"the keyring did not keep current for {user}@{host}")
            self._delete(_entry_name(host, user, "pending"))
            index = self._index()
            item = index.setdefault(f"{host}|{user}", {"host": host, "user": user, "versions": {}})
            now = datetime.now(UTC).isoformat(timespec="seconds")
            item["versions"].update(dict.fromkeys(written, now))
            item["versions"].pop("pending", None)
            self._write(INDEX_ENTRY, json.dumps(index, sort_keys=True))

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
        """Credentials with an escrowed-but-unconfirmed secret: reconcile these first."""
        return (entry for entry in self.entries() if "pending" in entry.versions)

    # -- the audit log's HMAC key -----------------------------------------------------------
    def audit_key(self) -> bytes:
        """The per-client audit HMAC key, created on first use."""
        with self._lock:
            value = self._read(AUDIT_KEY_ENTRY)
            if value is None:
                value = random_source.token_hex(32)
                self._write(AUDIT_KEY_ENTRY, value)
        return bytes.fromhex(value)

    # -- keyring access --------------------------------------------------------------------
    def _read(self, name: str, *, cached: bool = True) -> str | None:
        # Reads lock too: a file backend read while another thread rewrites the file sees
        # a half-written file (configparser ParsingError).
        with self._lock:
            if cached and name in self._cache:
                return self._cache[name]
            try:
                value = self.backend.get_password(self.service, name)
            except Exception as exc:
                raise SecretStoreError(f"keyring read failed: {type(exc).__name__}") from None
            self._cache[name] = value
            return value

    def _write(self, name: str, value: str) -> None:
        self._cache.pop(name, None)
        try:
            self.backend.set_password(self.service, name, value)
        except Exception as exc:
            raise SecretStoreError(f"keyring write failed: {type(exc).__name__}") from None
        self._cache[name] = value

    def _delete(self, name: str) -> None:
        import keyring.errors

        self._cache[name] = None
        try:
            self.backend.delete_password(self.service, name)
        except keyring.errors.PasswordDeleteError:
            pass
        except Exception as exc:
            raise SecretStoreError(f"keyring delete failed: {type(exc).__name__}") from None

    def _index(self) -> dict[str, dict]:
        raw = self._read(INDEX_ENTRY)
        return json.loads(raw) if raw else {}

    def _index_update(
        self, host: str, user: str, version: str, *, written: bool, platform: str | None = None
    ) -> None:
        index = self._index()
        item = index.setdefault(f"{host}|{user}", {"host": host, "user": user, "versions": {}})
        if written:
            item["versions"][version] = datetime.now(UTC).isoformat(timespec="seconds")
        else:
            item["versions"].pop(version, None)
        if platform:
            item["platform"] = platform
        self._write(INDEX_ENTRY, json.dumps(index, sort_keys=True))


def _entry_name(host: str, user: str, version: str) -> str:
    if version not in VERSIONS:
        raise ValueError(f"unknown secret version {version!r}")
    return f"{host}|{user}|{version}"


def open_backend(*, interactive: bool = False):
    """The keyring backend keyring's own configuration selects, refusing plaintext ones.

    The encrypted-file backend is unlocked from KEYRING_CRYPTFILE_PASSWORD or a root-only
    password file; it prompts only when ``interactive`` (a scheduled run must never hang).
    """
    import keyring

    backend = keyring.get_keyring()
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    candidates = getattr(backend, "backends", [backend])
    if not candidates or any(name.endswith(p) for p in _PLAINTEXT_BACKENDS):
        raise SecretStoreError(HEADLESS_HELP)
    if any(cls.__name__ == "CryptFileKeyring" for cls in type(backend).__mro__):
        _unlock_cryptfile(backend, interactive=interactive)
    return backend


def _unlock_cryptfile(backend, *, interactive: bool) -> None:
    password = os.environ.get(CRYPTFILE_PASSWORD_ENV)
    password_file = os.environ.get(CRYPTFILE_PASSWORD_FILE_ENV)
    if password is None and password_file:
        path = Path(password_file)
        try:
            mode = path.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise SecretStoreError(f"{path} must be readable by its owner only (chmod 600)")
            password = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretStoreError(f"cannot read {path}: {exc.strerror}") from None
    if password is None:
        if not (interactive and sys.stdin.isatty()):
            raise SecretStoreError(
                f"the encrypted keyring is locked: set {CRYPTFILE_PASSWORD_ENV} or "
                f"{CRYPTFILE_PASSWORD_FILE_ENV}"
            )
        return  # the backend prompts on first use
    try:
        backend.keyring_key = password
    except ValueError:
        raise SecretStoreError("the encrypted keyring refused the password it was given") from None
