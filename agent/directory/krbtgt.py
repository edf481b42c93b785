"""The staged krbtgt reset: a random password set once, a second one only when it is safe.

Resetting krbtgt invalidates every TGT signed with the old key; the KDC still accepts the
key *before* the current one, so one reset ends nothing a client notices until the next
reset. A second reset before every ticket issued under the first key has expired (maximum
ticket lifetime plus clock skew) ends every ticket and inter-realm trust at once. So the
second reset is refused until then, unless the operator forces it.

The new password is generated, sent once over TLS as ``unicodePwd`` and dropped: nobody ever
needs krbtgt's password, so it is neither escrowed nor stored nor logged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from agent.core.secret import Secret
from agent.directory.flags import filetime

# The Kerberos policy (MaxTicketAge) lives in the Default Domain Policy's GptTmpl.inf in
# SYSVOL (SMB), not in LDAP: keyturn cannot read it over its one LDAP connection, so the
# Windows default applies.
DEFAULT_MAX_TICKET_LIFETIME = timedelta(hours=10)
CLOCK_SKEW = timedelta(minutes=5)
# A krbtgt password no one types: long, whatever the domain's minimum.
KRBTGT_LENGTH = 64

# Generates a password of at least the given length (the domain's minPwdLength).
PasswordSource = Callable[[int], Secret]


@dataclass
class KrbtgtState:
    """What the apply knows about earlier resets of this domain's krbtgt."""

    last_reset: datetime | None  # the latest reset keyturn journalled (any apply run)
    force: bool = False
    new_password: PasswordSource | None = None
    tls: bool = True  # the connection is LDAPS or StartTLS
    max_ticket_lifetime: timedelta = DEFAULT_MAX_TICKET_LIFETIME


def parse_time(value: str | None) -> datetime | None:
    """A journal time (``2026-11-30T08:00:00Z``) as an aware datetime."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def staging_refusal(
    state: KrbtgtState, planned_pwd_last_set: list[str], current_pwd_last_set: str | None,
    now: datetime | None = None,
) -> str | None:  # fmt: skip
    """Why a reset must wait (one line), or None. The last reset is the newer of keyturn's
    journal and krbtgt's own pwdLastSet when that changed since the plan (a reset by someone
    else counts too)."""
    if state.force:
        return None
    candidates = [state.last_reset]
    if current_pwd_last_set is not None and [current_pwd_last_set] != planned_pwd_last_set:
        candidates.append(filetime(current_pwd_last_set))
    known = [c for c in candidates if c is not None]
    if not known:
        return None
    last = max(known)
    ready = last + state.max_ticket_lifetime + CLOCK_SKEW
    now = now or datetime.now(UTC)
    if now >= ready:
        return None
    hours = state.max_ticket_lifetime.total_seconds() / 3600
    return (
        f"refused: krbtgt was reset at {_stamp(last)}; the second reset waits until "
        f"{_stamp(ready)} (maximum ticket lifetime {hours:g} h + clock skew 5 min), since "
        f"resetting it again now ends every ticket and trust at once; --force does it anyway"
    )


def unicode_pwd(password: Secret) -> bytes:
    """The ``unicodePwd`` value AD takes: the password in double quotes, UTF-16-LE."""
    return f'"{password.reveal()}"'.encode("utf-16-le")


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
