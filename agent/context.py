"""What every command shares: global options, the site config, the store, the audit log."""

from __future__ import annotations

import getpass
import os
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from agent.core.errors import OperationFailed, UsageError

if TYPE_CHECKING:
    from agent.config import SiteConfig
    from agent.core.secret_backends import SecretBackend
    from inventory.audit import AuditLog
    from inventory.store import Store


@dataclass
class AppContext:
    config_path: str | None = None
    store_path: str | None = None
    verbosity: int = 0
    log_format: str = "text"
    log_file: str | None = None
    non_interactive: bool = False
    scope: tuple[str, ...] = ()
    _closers: list = field(default_factory=list)

    @cached_property
    def config(self) -> SiteConfig:
        from agent import config

        path = self.config_path or os.environ.get("KEYTURN_CONFIG")
        site = config.load(path, scope=list(self.scope))
        site.check_lab_namespace(str(path))
        return site

    @property
    def interactive(self) -> bool:
        """Prompts and progress bars only for a person at a terminal."""
        from agent.core.terminal import stderr_is_terminal, stdin_is_terminal

        return not self.non_interactive and stdin_is_terminal() and stderr_is_terminal()

    @property
    def operator(self) -> str:
        return os.environ.get("KEYTURN_OPERATOR") or _login_name()

    @cached_property
    def store_url(self) -> str | None:
        """The central PostgreSQL store's URL, or None for a SQLite file."""
        explicit = self.store_path or os.environ.get("KEYTURN_STORE") or self.config.store
        if explicit and explicit.startswith(("postgresql://", "postgres://")):
            return explicit
        return None

    @cached_property
    def resolved_store_path(self) -> Path:
        """The SQLite file; with a central store, where this machine's side files go (the
        audit log, host-key pins) as if the store were local."""
        explicit = self.store_path or os.environ.get("KEYTURN_STORE") or self.config.store
        if explicit and self.store_url is None:
            return Path(explicit).expanduser()
        from platformdirs import user_data_dir

        return Path(user_data_dir("keyturn")) / f"{self.config.client}.db"

    @cached_property
    def store(self) -> Store:
        from inventory.pg import open_store

        store = open_store(self.store_url or self.resolved_store_path, self.config.client)
        self._closers.append(store.close)
        # One store, one client: another client's runs would be signed into this audit log
        # with another key and the log would read as damaged from then on.
        owners = store.clients()
        if owners and self.config.client not in owners:
            raise UsageError(
                f"{store.path} is the inventory of client {', '.join(owners)}, "
                f"not {self.config.client!r}: give --config for that client or another --store"
            )
        return store

    @cached_property
    def secret_store(self) -> SecretBackend:
        """The keyring or the vault, as ``[secrets] backend`` says."""
        from agent.core.secret_backends import open_secret_store

        return open_secret_store(
            self.config.client, self.config.secrets, interactive=self.interactive
        )

    @property
    def audit_log_path(self) -> Path:
        path = self.resolved_store_path
        return path.with_name(path.stem + ".audit.jsonl")

    @cached_property
    def audit(self) -> AuditLog:
        from inventory.audit import AuditLog

        # The key is fetched when a line must be signed or checked: verifying an empty log
        # opens no keyring and creates no key (a reading command writes nothing). The log
        # is the config's client's: a bad config is refused before the log is read.
        self.config  # noqa: B018 (validates the site config)
        return AuditLog(
            self.audit_log_path,
            lambda create: self.secret_store.audit_key(create=create),
            self._audit_head_store,
            self.operator,
        )

    @cached_property
    def _audit_head_store(self) -> Store:
        """Where the audit log's head lives: the store itself, or with a central store a
        local file beside the log (each jump host signs its own log; one shared head would
        make every other host's log read as damaged)."""
        if self.store_url is None:
            return self.store
        from inventory.store import Store

        head = Store(
            self.resolved_store_path.with_name(self.resolved_store_path.stem + ".audit-head.db")
        )
        self._closers.append(head.close)
        return head

    def lock(self, command: str, *, check_audit: bool = True) -> AbstractContextManager[Path]:
        """Hold this client's lock and its store's while a mutating command runs, as a
        context manager: an overlapping run for the client (a second scheduled one, or one
        naming another --store) fails at once with LockedError (exit 3) instead of racing;
        a damaged audit log fails it before anything changes. Re-entrant within one
        process. See agent/ops/lock.py."""
        from agent.ops.lock import client_lock

        return client_lock(self, command, check_audit=check_audit)

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer()
        self._closers.clear()


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        raise OperationFailed("cannot tell who is running keyturn: set KEYTURN_OPERATOR") from None
