"""Where a client's secrets live: the OS keyring (default) or an OpenBao/Vault KV v2 mount.

Both stores implement one small interface (``SecretBackend``); the rotation lifecycle,
the audit log and the commands see only that. ``open_secret_store`` picks one from the
site config's ``[secrets]`` table, read through a Protocol (the kernel imports no config).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from agent.core.secret import Secret
from agent.core.secret_store import VERSIONS, EntryInfo, SecretStoreError

BACKENDS = ("keyring", "vault")


class SecretBackend(Protocol):
    """What the keyring store and the vault store both offer."""

    service: str

    def refresh(self) -> None: ...
    def get(self, host: str, user: str, version: str = "current") -> Secret | None: ...
    def put(
        self,
        host: str,
        user: str,
        secret: Secret,
        version: str = "current",
        *,
        platform: str | None = None,
    ) -> None: ...
    def drop(self, host: str, user: str, version: str) -> None: ...
    def promote(self, host: str, user: str) -> None: ...
    def entries(self) -> list[EntryInfo]: ...
    def with_pending(self) -> Iterator[EntryInfo]: ...
    def deferred_index(self) -> AbstractContextManager[None]: ...
    def flush_index(self) -> None: ...
    def audit_key(self, *, create: bool = True) -> bytes | None: ...


class SecretsSettings(Protocol):
    """The ``[secrets]`` table as the kernel reads it."""

    backend: str
    address: str | None
    mount: str
    path: str
    ca_file: str | None
    token_file: str | None
    approle_mount: str
    timeout: float


def open_secret_store(
    client: str,
    settings: SecretsSettings | None,
    *,
    interactive: bool = False,
    backend: str | None = None,
) -> SecretBackend:
    """The client's secret store; ``backend`` overrides the configured one."""
    chosen = backend or (settings.backend if settings is not None else "keyring")
    if chosen == "keyring":
        from agent.core.secret_store import SecretStore

        return SecretStore(client, interactive=interactive)
    if chosen != "vault":
        raise SecretStoreError(f"unknown secrets backend {chosen!r} (valid: {', '.join(BACKENDS)})")
    if settings is None or not settings.address:
        raise SecretStoreError('the vault backend needs [secrets] address = "https://..."')
    from agent.core.vault_store import VaultSecretStore, VaultSettings

    return VaultSecretStore(
        client,
        VaultSettings(
            address=settings.address,
            mount=settings.mount,
            path=settings.path,
            ca_file=settings.ca_file,
            token_file=settings.token_file,
            approle_mount=settings.approle_mount,
            timeout=settings.timeout,
        ),
    )


@dataclass(frozen=True)
class Migrated:
    """What ``secrets migrate`` moved (names and counts only)."""

    credentials: int
    versions: int
    audit_key: bool


def migrate(source: SecretBackend, target: SecretBackend) -> Migrated:
    """Copy every credential version (and the audit key) from ``source`` to ``target``,
    proving each by reading it back from ``target``; the source is left as it was.

    A credential the target already holds with other values is refused, not overwritten:
    it may be newer than the source (another jump host rotated it there)."""
    source.refresh()
    credentials = versions = 0
    for entry in source.entries():
        values = {v: source.get(entry.host, entry.user, v) for v in VERSIONS}
        values = {v: s for v, s in values.items() if s is not None}
        for version, secret in values.items():
            existing = target.get(entry.host, entry.user, version)
            if existing is not None and existing != secret:
                raise SecretStoreError(
                    f"{entry.user}@{entry.host} {version} differs in the target; nothing "
                    "more was migrated (compare both with `secrets get`)"
                )
            if existing is None:
                target.put(entry.host, entry.user, secret, version, platform=entry.platform)
        target.refresh()
        for version, secret in values.items():
            if target.get(entry.host, entry.user, version) != secret:
                raise SecretStoreError(
                    f"{entry.user}@{entry.host} {version} did not read back from the target"
                )
        credentials += 1
        versions += len(values)
    key = source.audit_key(create=False)
    setter = getattr(target, "set_audit_key", None)
    if setter is not None and key is not None:
        setter(key)
        target.refresh()
        if target.audit_key() != key:
            raise SecretStoreError("the audit key did not read back from the target")
    return Migrated(credentials, versions, setter is not None and key is not None)
