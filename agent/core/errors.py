"""One exception hierarchy; each class carries the exit code the CLI returns for it.

Exit codes (documented in the README): 0 success, 1 completed with findings or partial
failures, 2 usage or configuration error, 3 operation failed.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_FAILED = 3


class KeyturnError(Exception):
    """Base of every error keyturn reports as one line instead of a traceback."""

    exit_code = EXIT_FAILED


class UsageError(KeyturnError):
    """The operator asked for something keyturn cannot do as asked."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """The site configuration is invalid."""


class ScopeError(UsageError):
    """A target lies outside the scope the operator authorised."""


class PrivilegeError(UsageError):
    """The command needs a privilege (root, CAP_NET_RAW) this process lacks."""


class OperationFailed(KeyturnError):
    """The operation ran and failed (unreachable host, refused login, store failure...)."""


class LockedError(KeyturnError):
    """Another keyturn run holds this client's store."""
