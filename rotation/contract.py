"""The rotation contract: what the lifecycle asks of a driver, whatever the transport.

The lifecycle (rotation/lifecycle.py) drives one account on one device through these verbs:
``preflight`` (the peer is the one pinned, nothing secret sent yet), ``open`` a session as the
login account, ``account_exists``, ``change``, ``verify`` (a *fresh* login proving a
password), ``save`` and, on trouble, ``discard`` or ``revert``. A driver says what went wrong
only by raising the typed errors below; the lifecycle never reads error text. SSH, its host
key pins and Cisco's enable secret are details of drivers (rotation/drivers/ssh.py,
cisco.py); an LDAPS or SMB driver implements the same verbs.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from agent.core.errors import OperationFailed, UsageError
from agent.core.identifiers import DEVICE_USERNAME, check_username
from agent.core.secret import Secret, scrub
from rotation.policy import PasswordPolicy


@dataclass(frozen=True)
class Target:
    """One account on one device. ``login`` is the account keyturn signs in as (default:
    the rotated account itself); ``enable_account`` names the stored credential holding the
    enable secret, where the platform has one."""

    host: str
    platform: str
    username: str
    port: int = 22
    login: str | None = None
    enable_account: str | None = None
    device_class: str | None = None
    # "ssh" or "telnet" (only when a targets file says so: passwords cross in clear).
    transport: str = "ssh"

    @property
    def login_user(self) -> str:
        return self.login or self.username

    @property
    def label(self) -> str:
        return f"{self.username}@{self.host}"


# -- typed errors: the lifecycle decides by type, never by message ---------------------------
class DriverError(OperationFailed):
    """A device step failed; the message is scrubbed of every known secret."""

    def __init__(self, message: str) -> None:
        super().__init__(scrub(message))


class LoginRefused(DriverError):
    """The device refused the credential (authentication failed)."""


class ConnectionLost(DriverError):
    """The session died or timed out: the outcome of the last command is unknown."""


class ChangeRejected(DriverError):
    """The device answered the change with an error: it says nothing was changed."""


class SaveFailed(DriverError):
    """The running change could not be made persistent."""


class PrivilegeFailed(DriverError):
    """Logged in, but could not reach the privilege needed to change passwords."""


class AccountMissing(DriverError):
    """The account to rotate does not exist on the device."""


class CredentialMissing(DriverError):
    """A credential the driver needs besides the rotated one (a login account, an enable
    secret) is not in the secret store."""


class PeerRejected(DriverError):
    """The device is not the one pinned (SSH: another host key); nothing secret was sent."""


class UnsafeValue(DriverError):
    """A value would not stay data in a device command (a username with a newline, a
    password with a control character): refused before any session opens."""


@dataclass(frozen=True)
class PeerIdentity:
    """What ``preflight`` learned about the peer: ``fingerprint`` of its pinned identity,
    ``first_contact`` when it was pinned just now (the operator should compare it)."""

    fingerprint: str
    first_contact: bool


# (user, version) -> the stored secret for the target's host, or None.
Lookup = Callable[[str, str], Secret | None]


@dataclass(frozen=True)
class DriverEnv:
    """What every driver of a run shares: the secret store (read-only view), the pins of
    peer identities (an SSH known_hosts; ignored by drivers without one) and the timeout."""

    stored: Lookup
    pins: Any = None
    timeout: float = 60.0


class Driver(ABC):
    """One account on one device; one instance per session (the lifecycle opens a new one
    for every fresh login). Subclasses set the class attributes and implement the verbs."""

    platform: ClassVar[str] = ""
    policy: ClassVar[PasswordPolicy] = PasswordPolicy()
    # False where the change is persistent by itself (commit, FortiOS `end`, RouterOS).
    needs_save: ClassVar[bool] = True
    # True where ``change`` commits with an automatic revert (Junos `commit confirmed`,
    # VyOS `commit-confirm`) and ``save`` confirms it: a keyturn that dies in between leaves
    # a device that goes back to the old password by itself after ``confirm_minutes``.
    commit_confirm: ClassVar[bool] = False
    confirm_minutes: ClassVar[int] = 0
    # The account-name grammar; a platform may narrow the kernel's (never widen it).
    username_grammar: ClassVar[re.Pattern[str]] = DEVICE_USERNAME
    # Names the preflight step in events ("preflight.hostkey" for SSH).
    identity_check: ClassVar[str] = "identity"
    # False where ``open`` signs in as another account (an LDAP reset by the bind account):
    # a successful session then proves nothing about the rotated password.
    open_proves_rotated: ClassVar[bool] = True
    # The session's transport; the registry keeps telnet drivers apart (rotation.drivers).
    transport: ClassVar[str] = "ssh"

    def __init__(self, target: Target, env: DriverEnv) -> None:
        self.target = target
        self.env = env

    @classmethod
    def check_target(cls, target: Target) -> None:
        """Refuse a target whose names would not stay data on this platform (UnsafeValue).
        Runs before any connection: a refused name never reaches a session."""
        try:
            check_username(target.username, "username", cls.username_grammar)
            if target.login:
                check_username(target.login, "login", cls.username_grammar)
            if target.enable_account:
                check_username(target.enable_account, "enable_account", cls.username_grammar)
        except UsageError as exc:
            raise UnsafeValue(f"{target.host}: {exc}") from None

    def stored(self, user: str, version: str = "current") -> Secret | None:
        return self.env.stored(user, version)

    # -- the verbs ---------------------------------------------------------------------------
    def preflight(self) -> PeerIdentity | None:
        """Check (and on first contact pin) the peer's identity before any secret is sent;
        PeerRejected when it differs, ConnectionLost when it cannot be reached."""
        return None

    @abstractmethod
    def open(self, rotated: Secret) -> None:
        """Log in (as the login account, privileged) while ``rotated`` is the rotated
        account's password; the driver fetches any other credential it needs."""

    @abstractmethod
    def close(self) -> None: ...

    @property
    @abstractmethod
    def alive(self) -> bool: ...

    @abstractmethod
    def account_exists(self) -> bool: ...

    def auth_servers(self) -> list[str] | None:
        """The AAA servers (TACACS+/RADIUS) the device asks before its local accounts: []
        when logins are local, None when this driver cannot tell. With servers, the rotated
        local account is the fallback used only while none of them answers."""
        return None

    @abstractmethod
    def change(self, new: Secret, old: Secret) -> None:
        """Set the account's password to ``new`` in the running configuration."""

    def save(self) -> None:  # noqa: B027 - most platforms persist with the change
        """Make the running change survive a reboot (no-op where it already does)."""

    def discard(self) -> None:  # noqa: B027 - nothing to drop where a change is atomic
        """Drop an uncommitted edit after a rejected change."""

    def revert(self, old: Secret, current: Secret) -> None:
        """Put ``old`` back while ``current`` is the live password. No save: keyturn saves
        only after a verified change, so the saved config still holds ``old``."""
        self.change(old, current)

    def dependents(self) -> list[str]:
        """Where else the account's password is used, as one-line notes for the dry run's
        plan (read in ``account_exists``'s session; a driver that cannot tell says so)."""
        return []

    @abstractmethod
    def verify(self, rotated: Secret, refused: Secret | None = None) -> bool | None:
        """A fresh login proving ``rotated``; raises LoginRefused (or another DriverError)
        when it does not. With ``refused``, also tells whether the device refuses that
        password for the account (True/False; None when it could not tell or did not
        try): a driver may answer both on one connection."""


def check_secret(value: Secret, policy: PasswordPolicy, what: str) -> str:
    """The clear text of ``value`` for a device command, or UnsafeValue with the reason."""
    reason = policy.unsafe(value)
    if reason:
        raise UnsafeValue(f"{what}: {reason}")
    return value.reveal()
