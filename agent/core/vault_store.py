"""Versioned secrets in OpenBao / HashiCorp Vault KV v2: one path per client.

The same contract as the keyring store (agent/core/secret_store.py): each credential (host,
user) has up to three versions - ``current``, ``pending`` and ``previous`` - held in ONE KV
secret, so escrow and promotion are one write each, read back. Every write is a
check-and-set against the KV version this process last read: two jump hosts rotating the
same credential cannot overwrite each other (the second write fails, before its device is
touched). KV v2 keeps earlier versions of each secret in its own history, so an overwritten
``previous`` can still be recovered by an operator with ``bao kv get -version=N``.

Layout under ``<mount>/<path>`` (``path`` defaults to ``keyturn/<client>``):
``credentials/<user>@<host>`` (names escaped to ``[A-Za-z0-9._-]``, ``~XX`` for any other
byte) and ``audit-key``. KV can list, so no index entry is needed.

The server is asked once at open whether it is reachable, unsealed and accepts the token:
a sealed or unreachable vault is one line (SecretStoreError) before any device is touched.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import secrets as random_source
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agent.core.logsetup import get_logger
from agent.core.secret import Secret
from agent.core.secret_store import VERSIONS, EntryInfo, SecretStoreError

log = get_logger("secrets")

TOKEN_ENV = "VAULT_TOKEN"  # noqa: S105 (variable names, as hvac and the vault CLI read them)
ROLE_ID_ENV = "VAULT_ROLE_ID"
SECRET_ID_ENV = "VAULT_SECRET_ID"  # noqa: S105
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_")


@dataclass(frozen=True)
class VaultSettings:
    """Where one client's secrets live and how to log in (no secret in here)."""

    address: str
    mount: str = "secret"
    path: str = "keyturn/{client}"
    ca_file: str | None = None
    token_file: str | None = None
    approle_mount: str = "approle"
    timeout: float = 10.0


class VaultSecretStore:
    """The secrets of one client in a KV v2 mount; thread-safe like SecretStore."""

    def __init__(
        self, client: str, settings: VaultSettings, environ: dict[str, str] | None = None
    ) -> None:
        self.settings = settings
        self.mount = settings.mount.strip("/")
        self.path = settings.path.replace("{client}", client).strip("/")
        self.service = f"vault {settings.address} {self.mount}/{self.path}"
        self._lock = threading.RLock()
        # credential path -> (versions with their metadata, the KV version they were read at)
        self._cache: dict[str, tuple[dict[str, Any], int]] = {}
        self.client = _connect(settings, os.environ if environ is None else environ)

    def refresh(self) -> None:
        """Forget cached values (another process may have written the vault)."""
        with self._lock:
            self._cache.clear()

    # -- credentials -----------------------------------------------------------------------
    def get(self, host: str, user: str, version: str = "current") -> Secret | None:
        _check_version(version)
        value = self._read(_credential_path(host, user))[0].get(version)
        return Secret(value) if isinstance(value, str) else None

    def put(
        self,
        host: str,
        user: str,
        secret: Secret,
        version: str = "current",
        *,
        platform: str | None = None,
    ) -> None:
        """Write one version with check-and-set, read back: an escrow that did not land (or
        lost a race with another host) stops the rotation before the device is touched."""
        _check_version(version)
        name = _credential_path(host, user)
        with self._lock:
            data, kv_version = self._read(name)
            data = dict(data)
            data[version] = secret.reveal()
            _stamp(data, written=[version], platform=platform)
            self._write(name, data, kv_version, f"{version} for {user}@{host}")

    def drop(self, host: str, user: str, version: str) -> None:
        _check_version(version)
        name = _credential_path(host, user)
        with self._lock:
            data, kv_version = self._read(name)
            if version not in data:
                return
            data = dict(data)
            data.pop(version)
            _stamp(data, removed=[version])
            self._write(name, data, kv_version, f"the removal of {version} for {user}@{host}")

    def promote(self, host: str, user: str) -> None:
        """pending -> current, current -> previous, in one check-and-set write: a crash
        leaves either the old or the new set, and KV history keeps the older previous."""
        name = _credential_path(host, user)
        with self._lock:
            data, kv_version = self._read(name)
            data = dict(data)
            pending = data.pop("pending", None)
            if not isinstance(pending, str):
                raise SecretStoreError(f"no pending secret for {user}@{host} to promote")
            written = ["current"]
            if isinstance(data.get("current"), str):
                data["previous"] = data["current"]
                written.append("previous")
            data["current"] = pending
            _stamp(data, written=written, removed=["pending"])
            self._write(name, data, kv_version, f"the promotion for {user}@{host}")

    def entries(self) -> list[EntryInfo]:
        found = []
        for key in self._list("credentials"):
            user, _, host = key.rpartition("@")
            data, _version = self._read(f"credentials/{key}")
            written = data.get("written") if isinstance(data.get("written"), dict) else {}
            versions = {
                v: str(written.get(v, "")) for v in VERSIONS if isinstance(data.get(v), str)
            }
            if versions:
                found.append(
                    EntryInfo(
                        host=_unescape(host),
                        user=_unescape(user),
                        versions=versions,
                        platform=data.get("platform"),
                    )
                )
        return sorted(found, key=lambda e: (e.host, e.user))

    def with_pending(self) -> Iterator[EntryInfo]:
        return (entry for entry in self.entries() if "pending" in entry.versions)

    @contextlib.contextmanager
    def deferred_index(self) -> Iterator[None]:
        """Nothing to defer: KV lists its own keys (the keyring store keeps an index)."""
        yield

    def flush_index(self) -> None:
        """Nothing to flush (see deferred_index)."""

    # -- the audit log's HMAC key -----------------------------------------------------------
    def audit_key(self, *, create: bool = True) -> bytes | None:
        """The per-client audit HMAC key, created on first use unless ``create`` is False
        (a reading command: None when there is none yet). Created with check-and-set: two
        hosts opening a new client at once end up with the same key."""
        with self._lock:
            data, kv_version = self._read("audit-key")
            if not isinstance(data.get("key"), str):
                if not create:
                    return None
                try:
                    self._write(
                        "audit-key",
                        {"key": random_source.token_hex(32)},
                        kv_version,
                        "the audit key",
                    )
                except SecretStoreError:
                    self._cache.pop("audit-key", None)  # lost the race: take the winner's
                data, _ = self._read("audit-key")
        try:
            return bytes.fromhex(data["key"])
        except (KeyError, TypeError, ValueError):
            raise SecretStoreError("the vault's audit key entry is unreadable") from None

    def set_audit_key(self, key: bytes) -> None:
        """Bring an existing audit key (``secrets migrate``); refuses to replace another."""
        with self._lock:
            data, kv_version = self._read("audit-key")
            if isinstance(data.get("key"), str):
                if data["key"] != key.hex():
                    raise SecretStoreError(
                        "the vault already holds a different audit key for "
                        "this client; not replaced"
                    )
                return
            self._write("audit-key", {"key": key.hex()}, kv_version, "the audit key")

    # -- KV access ---------------------------------------------------------------------------
    def _read(self, name: str) -> tuple[dict[str, Any], int]:
        """(data, KV version) of one secret; ({}, 0) when it does not exist yet."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        with self._lock:
            response = self._call(
                "read",
                lambda: self.client.secrets.kv.v2.read_secret_version(
                    path=f"{self.path}/{name}",
                    mount_point=self.mount,
                    raise_on_deleted_version=False,
                ),
                missing_ok=True,
            )
            data: dict[str, Any] = {}
            kv_version = 0
            if response:
                body = response.get("data") or {}
                data = body.get("data") or {}
                kv_version = int((body.get("metadata") or {}).get("version") or 0)
            self._cache[name] = (data, kv_version)
            return data, kv_version

    def _write(self, name: str, data: dict[str, Any], cas: int, what: str) -> None:
        import hvac.exceptions

        self._cache.pop(name, None)
        try:
            response = self.client.secrets.kv.v2.create_or_update_secret(
                path=f"{self.path}/{name}", secret=data, cas=cas, mount_point=self.mount
            )
        except hvac.exceptions.InvalidRequest as exc:
            if "check-and-set" in str(exc):
                raise SecretStoreError(
                    f"another run changed {what} in the vault meanwhile (check-and-set); "
                    "nothing was written"
                ) from None
            raise SecretStoreError(f"vault refused {what}: {_reason(exc)}") from None
        except Exception as exc:
            raise SecretStoreError(f"vault write of {what} failed: {_reason(exc)}") from None
        written = int(((response or {}).get("data") or {}).get("version") or 0)
        back, back_version = self._read(name)
        if back != data or back_version != written:
            self._cache.pop(name, None)
            raise SecretStoreError(f"the vault did not keep {what}")

    def _list(self, folder: str) -> list[str]:
        response = self._call(
            "list",
            lambda: self.client.secrets.kv.v2.list_secrets(
                path=f"{self.path}/{folder}", mount_point=self.mount
            ),
            missing_ok=True,
        )
        keys = ((response or {}).get("data") or {}).get("keys") or []
        return [key for key in keys if isinstance(key, str) and not key.endswith("/")]

    def _call(self, what: str, request, *, missing_ok: bool = False):
        import hvac.exceptions

        with self._lock:
            try:
                return request()
            except hvac.exceptions.InvalidPath:
                if missing_ok:
                    return None
                raise SecretStoreError(f"vault {what}: no such path") from None
            except Exception as exc:
                raise SecretStoreError(f"vault {what} failed: {_reason(exc)}") from None


def _connect(settings: VaultSettings, environ: dict[str, str]):
    """An authenticated hvac client, or one SecretStoreError line saying what is wrong."""
    try:
        import hvac
    except ImportError:
        raise SecretStoreError("the vault backend needs hvac: pip install 'keyturn[msp]'") from None
    address = settings.address.rstrip("/")
    parts = urlsplit(address)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise SecretStoreError(f"vault address {address!r} is not an https:// URL")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        # A token and every password would cross the network in clear text.
        raise SecretStoreError(
            f"vault address {address} is plain http: use https (http is accepted on loopback only)"
        )
    verify: bool | str = True
    if settings.ca_file:
        if not Path(settings.ca_file).is_file():
            raise SecretStoreError(f"vault ca_file {settings.ca_file} does not exist")
        verify = settings.ca_file
    client = hvac.Client(url=address, verify=verify, timeout=settings.timeout)
    try:
        sealed = client.sys.read_seal_status().get("sealed")
    except Exception as exc:
        raise SecretStoreError(
            f"vault at {address} is unreachable: {_reason(exc)}; no device was touched"
        ) from None
    if sealed:
        raise SecretStoreError(
            f"vault at {address} is sealed (unseal it first); no device was touched"
        )
    _authenticate(client, settings, environ)
    return client


def _authenticate(client, settings: VaultSettings, environ: dict[str, str]) -> None:
    token = environ.get(TOKEN_ENV)
    role_id, secret_id = environ.get(ROLE_ID_ENV), environ.get(SECRET_ID_ENV)
    try:
        if token:
            client.token = token
        elif role_id and secret_id:
            client.auth.approle.login(
                role_id=role_id, secret_id=secret_id, mount_point=settings.approle_mount
            )
        elif settings.token_file:
            client.token = _read_token_file(Path(settings.token_file))
        else:
            raise SecretStoreError(
                f"no vault credentials: set {TOKEN_ENV}, or {ROLE_ID_ENV} "
                f"and {SECRET_ID_ENV}, or [secrets] token_file"
            )
        authenticated = client.is_authenticated()
    except SecretStoreError:
        raise
    except Exception as exc:
        raise SecretStoreError(
            f"vault login failed: {_reason(exc)}; no device was touched"
        ) from None
    if not authenticated:
        raise SecretStoreError(
            "vault refused the token (expired or revoked?); no device was touched"
        )


def _read_token_file(path: Path) -> str:
    """A token file readable by its owner only, and owned by this user or root."""
    try:
        info = path.stat()
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO) or info.st_uid not in (0, os.geteuid()):
            raise SecretStoreError(
                f"{path} must be owned by this user and readable by it only (chmod 600)"
            )
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SecretStoreError(f"cannot read {path}: {exc.strerror}") from None
    if not token:
        raise SecretStoreError(f"{path} is empty")
    return token


def _loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _reason(exc: BaseException) -> str:
    """One line naming what went wrong, never a request body (it may hold a password)."""
    import hvac.exceptions

    if isinstance(exc, hvac.exceptions.VaultError):
        errors = [_one_line(str(e)) for e in (exc.errors or [])]
        return f"{type(exc).__name__}" + (f" ({'; '.join(errors)})" if errors else "")
    text = _one_line(str(exc))
    return f"{type(exc).__name__}" + (f": {text}" if text else "")


def _one_line(text: str) -> str:
    # Vault wraps errors as "1 error occurred:\n\t* permission denied\n\n".
    text = re.sub(r"^\d+ errors? occurred:", "", " ".join(text.split())).strip(" *")
    return text[:200]


def _stamp(
    data: dict[str, Any],
    *,
    written: list[str] = (),
    removed: list[str] = (),
    platform: str | None = None,
) -> None:
    """Keep when each version was written (what ``secrets list`` shows) beside the values."""
    times = dict(data.get("written") or {})
    now = datetime.now(UTC).isoformat(timespec="seconds")
    times.update(dict.fromkeys(written, now))
    for version in removed:
        times.pop(version, None)
    data["written"] = times
    if platform:
        data["platform"] = platform


def _check_version(version: str) -> None:
    if version not in VERSIONS:
        raise ValueError(f"unknown secret version {version!r}")


def _escape(name: str) -> str:
    return "".join(c if c in _SAFE else "".join(f"~{b:02X}" for b in c.encode()) for c in name)


def _unescape(name: str) -> str:
    raw = bytearray()
    i = 0
    while i < len(name):
        if name[i] == "~":
            raw.append(int(name[i + 1 : i + 3], 16))
            i += 3
        else:
            raw += name[i].encode()
            i += 1
    return raw.decode("utf-8", errors="replace")


def _credential_path(host: str, user: str) -> str:
    return f"credentials/{_escape(user)}@{_escape(host)}"
