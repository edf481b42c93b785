"""Directory objects as the audit sees them, decoded once from raw LDAP values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from agent.directory import sd
from agent.directory.flags import Uac, decode_sid, filetime, generalized_time, rid_of

# (name, bit) once: enum membership tests cost ~20 us each, times 16 flags, times every account.
_UAC_BITS = tuple(sorted((flag.name, flag.value) for flag in Uac))

Kind = Literal["user", "computer", "group", "foreign", "gmsa", "msa"]

# Every attribute an account, group or foreign principal is read with (one listing each).
ACCOUNT_ATTRIBUTES = (
    "objectSid", "sAMAccountName", "objectClass", "userAccountControl", "adminCount",
    "servicePrincipalName", "msNPAllowDialin", "primaryGroupID", "whenCreated",
    "lastLogonTimestamp", "pwdLastSet", "sIDHistory", "operatingSystem", "dNSHostName",
    "description", "msDS-AllowedToDelegateTo", "msDS-AllowedToActOnBehalfOfOtherIdentity",
    # LAPS: only the non-confidential expiry times, never the password attributes.
    "ms-Mcs-AdmPwdExpirationTime", "msLAPS-PasswordExpirationTime",
)  # fmt: skip
GROUP_ATTRIBUTES = ("objectSid", "sAMAccountName", "objectClass", "groupType")


@dataclass
class Entry:
    """One search result: its DN and raw values keyed by lower-case attribute name."""

    dn: str
    raw: dict[str, list[bytes]]

    def text(self, name: str) -> str | None:
        values = self.raw.get(name.lower())
        return values[0].decode("utf-8") if values else None

    def texts(self, name: str) -> list[str]:
        return [v.decode("utf-8") for v in self.raw.get(name.lower(), [])]

    def first(self, name: str) -> bytes | None:
        values = self.raw.get(name.lower())
        return values[0] if values else None


@dataclass
class DirObject:
    dn: str
    sid: str
    sam: str
    kind: Kind
    uac: Uac = field(default_factory=lambda: Uac(0))
    admin_count: bool = False
    spns: list[str] = field(default_factory=list)
    dialin: bool | None = None
    primary_group_id: int | None = None
    when_created: datetime | None = None
    last_logon: datetime | None = None  # lastLogonTimestamp: replicated, ~14 days behind
    pwd_last_set: datetime | None = None
    sid_history: list[str] = field(default_factory=list)
    os: str | None = None
    dns_host_name: str | None = None
    description: str | None = None
    members: list[str] = field(default_factory=list)  # groups: member DNs
    delegate_to: list[str] = field(default_factory=list)  # msDS-AllowedToDelegateTo
    # SIDs that msDS-AllowedToActOnBehalfOfOtherIdentity lets delegate to this account (RBCD).
    rbcd_sids: list[str] = field(default_factory=list)
    laps_expiry: datetime | None = None  # legacy or Windows LAPS password expiration
    has_laps: bool = False  # either LAPS expiration attribute present

    @property
    def enabled(self) -> bool:
        # Groups and foreign principals cannot be disabled.
        return not self.uac & Uac.ACCOUNTDISABLE

    @property
    def rid(self) -> int:
        return rid_of(self.sid)

    @property
    def is_dc(self) -> bool:
        return bool(self.uac & Uac.SERVER_TRUST_ACCOUNT)

    @property
    def is_account(self) -> bool:
        """A security principal that logs on (users, computers, managed service accounts)."""
        return self.kind in ("user", "computer", "gmsa", "msa")

    @property
    def public_kind(self) -> str:
        """The kind in reports: managed service accounts are computer objects to AD."""
        return "computer" if self.kind in ("gmsa", "msa") else self.kind

    def summary(self) -> dict:
        """The JSON-safe attributes stored with the object in the inventory."""
        return {
            "uac": int(self.uac),
            "uac_flags": [name for name, bit in _UAC_BITS if int(self.uac) & bit],
            "admin_count": self.admin_count,
            "spns": self.spns,
            "dialin": self.dialin,
            "primary_group_id": self.primary_group_id,
            "when_created": _iso(self.when_created),
            "last_logon_timestamp": _iso(self.last_logon),
            "pwd_last_set": _iso(self.pwd_last_set),
            "sid_history": self.sid_history,
            "operating_system": self.os,
            "dns_host_name": self.dns_host_name,
            "description": self.description,
            "allowed_to_delegate_to": self.delegate_to,
            "rbcd_sids": self.rbcd_sids,
            "laps": self.has_laps,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def kind_of(classes: list[str]) -> Kind:
    lowered = {c.lower() for c in classes}
    if "msds-groupmanagedserviceaccount" in lowered:
        return "gmsa"
    if "msds-managedserviceaccount" in lowered:
        return "msa"
    if "computer" in lowered:
        return "computer"
    if "group" in lowered:
        return "group"
    if "foreignsecurityprincipal" in lowered:
        return "foreign"
    return "user"


def from_entry(entry: Entry) -> DirObject:
    """Decode a search result read with ACCOUNT_ATTRIBUTES or GROUP_ATTRIBUTES."""
    raw_sid = entry.first("objectSid")
    if raw_sid is None:
        raise ValueError(f"{entry.dn}: no objectSid (not a security principal)")
    sid = decode_sid(raw_sid)
    kind = kind_of(entry.texts("objectClass"))
    dialin = entry.text("msNPAllowDialin")
    uac = entry.text("userAccountControl")
    primary = entry.text("primaryGroupID")
    admin_count = entry.text("adminCount")
    laps = entry.text("msLAPS-PasswordExpirationTime") or entry.text("ms-Mcs-AdmPwdExpirationTime")
    return DirObject(
        dn=entry.dn,
        sid=sid,
        # A foreign principal has no account name; its SID is the name the audit shows.
        sam=entry.text("sAMAccountName") or sid,
        kind=kind,
        uac=Uac(int(uac) & 0xFFFFFFFF) if uac else Uac(0),
        admin_count=admin_count not in (None, "0"),
        spns=entry.texts("servicePrincipalName"),
        dialin=None if dialin is None else dialin.upper() == "TRUE",
        primary_group_id=int(primary) if primary else None,
        when_created=generalized_time(entry.text("whenCreated")),
        last_logon=filetime(entry.text("lastLogonTimestamp")),
        pwd_last_set=filetime(entry.text("pwdLastSet")),
        sid_history=[decode_sid(v) for v in entry.raw.get("sidhistory", [])],
        os=entry.text("operatingSystem"),
        dns_host_name=entry.text("dNSHostName"),
        description=entry.text("description"),
        delegate_to=entry.texts("msDS-AllowedToDelegateTo"),
        rbcd_sids=_rbcd_sids(entry.first("msDS-AllowedToActOnBehalfOfOtherIdentity")),
        laps_expiry=filetime(laps) if laps else None,
        has_laps=laps is not None,
    )


def _rbcd_sids(raw: bytes | None) -> list[str]:
    """Who the RBCD descriptor allows; an unreadable one is reported, not dropped."""
    if raw is None:
        return []
    try:
        dacl = sd.parse(raw).dacl or ()
    except ValueError:
        return ["(unreadable security descriptor)"]
    return sorted({ace.sid for ace in dacl if ace.allows})
