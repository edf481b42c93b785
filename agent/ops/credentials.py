"""Every credential keyturn is handed (`secrets import`, `secrets set`) is checked here before
it reaches the keyring: the host and account name against the identifier grammar, the
platform against the driver registry, an address against the site's scope, the password
against the platform's policy. Each refusal is one line (UsageError, exit 2) that never
prints the password itself.

Why at import time: a keyring entry is later turned into device commands, keyring names and
report rows by code that trusts it; an inherited CSV is hostile input until checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agent.core.errors import UsageError
from agent.core.identifiers import (
    check_directory_account,
    check_host,
    check_username,
    control_character_names,
)
from agent.core.scope import ScopeGuard, is_address
from agent.core.secret import Secret
from rotation.drivers import DRIVERS

# The AD bind account's platform (lab up and `secrets set --platform` use it); not a
# rotation driver: its password reaches an LDAP bind, never a device CLI.
DIRECTORY_PLATFORM = "active_directory"
# Rotation kinds whose account names are not device names (rotation/drivers/ad.py,
# windows_local.py).
ACCOUNT_KINDS = ("ad", "windows_local")


@dataclass(frozen=True)
class Credential:
    """One validated (host, user) pair and its password, ready for the keyring."""

    host: str
    user: str
    password: Secret
    platform: str | None


def platforms() -> list[str]:
    return sorted([*DRIVERS, DIRECTORY_PLATFORM])


def check_platform(platform: str | None) -> str | None:
    """``platform`` when it names a rotation driver (or the directory), None when empty."""
    if not platform:
        return None
    if platform not in DRIVERS and platform != DIRECTORY_PLATFORM:
        raise UsageError(f"unknown platform {platform!a}; valid: {', '.join(platforms())}")
    return platform


MIN_INHERITED_LENGTH = 4


def check_account(user: str, platform: str | None) -> str:
    if platform == DIRECTORY_PLATFORM:
        return check_directory_account(user, "username")
    if platform in ACCOUNT_KINDS:  # rid:500, a UPN: the kind's own grammar
        return check_username(user, "username", DRIVERS[platform].username_grammar)
    return check_username(user)


def password_refusal(password: Secret, platform: str | None, what: str = "password") -> str | None:
    """Why ``password`` cannot be stored for ``platform`` (None when it can).

    An inherited password is weak more often than not, and that is why it gets rotated: its
    length and alphabet are not judged here. What is refused is what cannot be typed back
    safely, because a rollback types the stored old value into the device's CLI, where a
    character the CLI reads as syntax (Ctrl-Z ends a config mode, `?` opens IOS help, a tab
    completes) would become a command: the platform policy's ``unsafe()``. A value of fewer
    than MIN_INHERITED_LENGTH characters is a shifted CSV column, not a password.
    The reason names the offending characters, never the value."""
    value = password.reveal()
    if not value:
        return f"{what} is empty"
    controls = control_character_names(value)
    if controls:
        return f"{what} holds control characters ({', '.join(controls)})"
    if len(value) < MIN_INHERITED_LENGTH:
        return (
            f"{what} is shorter than {MIN_INHERITED_LENGTH} characters "
            "(a shifted column in the file?)"
        )
    if platform == DIRECTORY_PLATFORM:
        return None  # an LDAP bind takes any printable password
    policy = _policy(platform)
    if policy.unsafe(password) is None:
        return None
    where = f"the {platform} CLI" if platform else "a device CLI"
    odd = sorted({ch for ch in value if ch.isspace() or ch in policy.specials})
    odd += sorted({ch for ch in value if policy.ascii_only and not ch.isascii()} - set(odd))
    shown = ", ".join("space" if ch == " " else ascii(ch) for ch in odd)
    return f"{what} holds characters {where} may read as syntax: {shown}"


def check_names(
    host: str, user: str, platform: str | None, scope: Callable[[], ScopeGuard] | None
) -> tuple[str, str, str | None]:
    """(host, user, platform) normalised (a host name lower case, an address canonical), or
    UsageError. ``scope=None``: the caller checks the scope later with :func:`check_scope`."""
    platform = check_platform(platform)
    host = check_host(host)
    user = check_account(user, platform)
    if scope is not None:
        check_scope(host, scope)
    return host, user, platform


def check_credential(
    host: str,
    user: str,
    password: Secret,
    platform: str | None,
    scope: Callable[[], ScopeGuard] | None,
    what: str = "password",
) -> Credential:
    """The validated credential, or UsageError with the first reason it cannot be stored.

    ``scope`` builds the site's guard when an address needs checking: a host name is checked
    when a rotation resolves it, an address now (8.8.8.8 in an inherited CSV is a typo or a
    trap, never a device to sign in to)."""
    host, user, platform = check_names(host, user, platform, scope)
    refusal = password_refusal(password, platform, what)
    if refusal:
        raise UsageError(f"{user}@{host}: {refusal}")
    return Credential(host, user, password, platform)


def check_scope(host: str, scope: Callable[[], ScopeGuard]) -> None:
    """Refuse an address outside the site's scope (names are checked when resolved)."""
    if is_address(host):
        scope().check(host)


def _policy(platform: str | None):
    from rotation.drivers import driver_for
    from rotation.policy import PasswordPolicy

    return driver_for(platform).policy if platform else PasswordPolicy()
