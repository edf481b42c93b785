"""Named AD constants and value decoders: SIDs, userAccountControl flags, FILETIME dates.

Every flag the audit tests is named here (MS-ADTS 2.2.16) so rules read as words, not hex.
"""

from __future__ import annotations

import enum
import struct
from datetime import UTC, datetime, timedelta


class Uac(enum.IntFlag):
    """userAccountControl bits (MS-ADTS 2.2.16)."""

    SCRIPT = 0x1
    ACCOUNTDISABLE = 0x2
    HOMEDIR_REQUIRED = 0x8
    LOCKOUT = 0x10
    PASSWD_NOTREQD = 0x20
    PASSWD_CANT_CHANGE = 0x40
    ENCRYPTED_TEXT_PWD_ALLOWED = 0x80
    TEMP_DUPLICATE_ACCOUNT = 0x100
    NORMAL_ACCOUNT = 0x200
    INTERDOMAIN_TRUST_ACCOUNT = 0x800
    WORKSTATION_TRUST_ACCOUNT = 0x1000
    SERVER_TRUST_ACCOUNT = 0x2000
    DONT_EXPIRE_PASSWORD = 0x10000
    MNS_LOGON_ACCOUNT = 0x20000
    SMARTCARD_REQUIRED = 0x40000
    TRUSTED_FOR_DELEGATION = 0x80000
    NOT_DELEGATED = 0x100000
    USE_DES_KEY_ONLY = 0x200000
    DONT_REQ_PREAUTH = 0x400000
    PASSWORD_EXPIRED = 0x800000
    TRUSTED_TO_AUTH_FOR_DELEGATION = 0x1000000
    PARTIAL_SECRETS_ACCOUNT = 0x4000000


class SamAccountType(enum.IntEnum):
    """sAMAccountType values (MS-SAMR 2.2.1.9): indexed, so the cheapest way to select accounts."""

    NORMAL_USER_ACCOUNT = 0x30000000
    MACHINE_ACCOUNT = 0x30000001


# Well-known relative ids of domain principals (MS-DTYP 2.4.2.4).
RID_ADMINISTRATOR = 500
RID_GUEST = 501
RID_KRBTGT = 502
RID_DOMAIN_CONTROLLERS = 516

BUILTIN_DOMAIN_SID = "S-1-5-32"

# The names a RID-500 account is given at provisioning in common OS languages: a domain that
# still uses one of them has not renamed its built-in administrator.
DEFAULT_ADMINISTRATOR_NAMES = frozenset(
    {"administrator", "administrateur", "administrador", "administratör", "amministratore",
     "järjestelmänvalvoja", "rendszergazda", "administrátor", "administratorzy"}
)  # fmt: skip

# A filetime of 0 or 0x7FFFFFFFFFFFFFFF means "never".
_FILETIME_NEVER = {0, 0x7FFFFFFFFFFFFFFF}
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


def decode_sid(raw: bytes) -> str:
    """The S-1-... form of a binary objectSid (MS-DTYP 2.4.2.2)."""
    if len(raw) < 8:
        raise ValueError("SID shorter than its header")
    revision, count = raw[0], raw[1]
    if len(raw) != 8 + 4 * count:
        raise ValueError("SID length does not match its sub-authority count")
    authority = int.from_bytes(raw[2:8], "big")
    subs = struct.unpack(f"<{count}I", raw[8:])
    return "-".join(["S", str(revision), str(authority), *map(str, subs)])


def encode_sid(sid: str) -> bytes:
    """The binary form of ``S-1-...`` (for search filters and the offline test directory)."""
    parts = sid.split("-")
    if len(parts) < 3 or parts[0].upper() != "S":
        raise ValueError(f"not a SID: {sid!r}")
    subs = [int(p) for p in parts[3:]]
    return (
        bytes([int(parts[1]), len(subs)])
        + int(parts[2]).to_bytes(6, "big")
        + struct.pack(f"<{len(subs)}I", *subs)
    )


def sid_filter_value(sid: str) -> str:
    """A SID escaped byte by byte for an LDAP filter: every directory server accepts this."""
    return "".join(f"\\{b:02x}" for b in encode_sid(sid))


def rid_of(sid: str) -> int:
    return int(sid.rsplit("-", 1)[1])


def domain_of(sid: str) -> str:
    return sid.rsplit("-", 1)[0]


def filetime(value: str | int | None) -> datetime | None:
    """A FILETIME attribute (pwdLastSet, lastLogonTimestamp) as UTC; None for never."""
    if value in (None, ""):
        return None
    ticks = int(value)
    if ticks in _FILETIME_NEVER or ticks < 0:
        return None
    return _FILETIME_EPOCH + timedelta(microseconds=ticks // 10)


def generalized_time(value: str | None) -> datetime | None:
    """whenCreated-style ``YYYYmmddHHMMSS.0Z`` as UTC."""
    if not value:
        return None
    return datetime.strptime(value[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)


class DomainRid(enum.IntEnum):
    """Well-known RIDs of domain groups the ACL rules treat as administrators (MS-DTYP 2.4.2.4)."""

    ENTERPRISE_READONLY_DCS = 498
    DOMAIN_ADMINS = 512
    CERT_PUBLISHERS = 517
    DOMAIN_CONTROLLERS = 516
    SCHEMA_ADMINS = 518
    ENTERPRISE_ADMINS = 519
    READONLY_DCS = 521
    PROTECTED_USERS = 525


# Well-known SIDs by name (MS-DTYP 2.4.2.4), for evidence a person reads.
WELL_KNOWN_SIDS = {
    "S-1-1-0": "Everyone",
    "S-1-3-0": "CREATOR OWNER",
    "S-1-5-7": "ANONYMOUS LOGON",
    "S-1-5-9": "Enterprise Domain Controllers",
    "S-1-5-10": "SELF",
    "S-1-5-11": "Authenticated Users",
    "S-1-5-18": "SYSTEM",
    "S-1-5-32-544": "Administrators",
    "S-1-5-32-548": "Account Operators",
    "S-1-5-32-549": "Server Operators",
    "S-1-5-32-550": "Print Operators",
    "S-1-5-32-551": "Backup Operators",
    "S-1-5-32-554": "Pre-Windows 2000 Compatible Access",
    "S-1-5-32-557": "Incoming Forest Trust Builders",
    "S-1-5-32-560": "Windows Authorization Access Group",
    "S-1-5-32-561": "Terminal Server License Servers",
}
EVERYONE, ANONYMOUS, AUTHENTICATED_USERS = "S-1-1-0", "S-1-5-7", "S-1-5-11"
SYSTEM, SELF, ENTERPRISE_DCS, ADMINISTRATORS = "S-1-5-18", "S-1-5-10", "S-1-5-9", "S-1-5-32-544"
