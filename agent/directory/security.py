"""Collect what the domain-level rules read: the domain head (policy, quota, its DACL),
AdminSDHolder's DACL, fine-grained password policies, the owners of privileged objects,
and names for every SID that evidence will show.

Security descriptors are read with the SD-flags control (owner + group + DACL, or the owner
alone where that is all a rule needs): without it AD also asks for the SACL, which an audit
account lacking SeSecurityPrivilege may not read, and the whole attribute comes back empty.
Five or six round trips, independent of the domain's size (privileged objects are few).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from agent.core.logsetup import get_logger
from agent.directory import sd
from agent.directory.connection import DirectoryConnection
from agent.directory.flags import WELL_KNOWN_SIDS, decode_sid, sid_filter_value
from agent.directory.model import Entry

log = get_logger(__name__)

POLICY_ATTRIBUTES = (
    "minPwdLength", "lockoutThreshold", "pwdProperties", "ms-DS-MachineAccountQuota",
    "pwdHistoryLength", "maxPwdAge", "objectGUID", "nTSecurityDescriptor",
)  # fmt: skip
FGPP_ATTRIBUTES = (
    "cn", "msDS-MinimumPasswordLength", "msDS-LockoutThreshold",
    "msDS-PasswordComplexityEnabled", "msDS-PasswordSettingsPrecedence", "msDS-PSOAppliesTo",
)  # fmt: skip
DOMAIN_PASSWORD_COMPLEX = 0x1
_SID_CHUNK = 200  # objectSid terms per search filter


@dataclass
class DomainSecurity:
    head: Entry | None
    head_sd: sd.SecurityDescriptor | None
    adminsdholder_dn: str
    adminsdholder_sd: sd.SecurityDescriptor | None
    fine_grained: list[dict] = field(default_factory=list)
    owners: dict[str, str] = field(default_factory=dict)  # object SID -> owner SID
    warnings: list[str] = field(default_factory=list)

    def policy_int(self, name: str) -> int | None:
        value = self.head.text(name) if self.head else None
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None


def collect(conn: DirectoryConnection, domain_dn: str, owned_sids: Iterable[str]) -> DomainSecurity:
    """Read the domain head, AdminSDHolder, the PSO container and the owners of
    ``owned_sids`` (DCs and privileged objects)."""
    warnings: list[str] = []
    head = conn.read(domain_dn, POLICY_ATTRIBUTES, sd_flags=sd.SD_FLAGS_READ)
    holder_dn = f"CN=AdminSDHolder,CN=System,{domain_dn}"
    holder = conn.read(holder_dn, ["nTSecurityDescriptor"], sd_flags=sd.SD_FLAGS_READ)
    result = DomainSecurity(
        head=head,
        head_sd=_descriptor(head, domain_dn, warnings),
        adminsdholder_dn=holder_dn,
        adminsdholder_sd=_descriptor(holder, holder_dn, warnings),
        warnings=warnings,
    )
    result.fine_grained = [
        _pso(entry)
        for entry in conn.search(
            f"CN=Password Settings Container,CN=System,{domain_dn}",
            "(objectClass=msDS-PasswordSettings)",
            FGPP_ATTRIBUTES,
            scope="one",
        )
    ]
    sids = sorted(set(owned_sids))
    for start in range(0, len(sids), _SID_CHUNK):
        terms = "".join(
            f"(objectSid={sid_filter_value(s)})" for s in sids[start : start + _SID_CHUNK]
        )
        for entry in conn.search(
            domain_dn,
            f"(|{terms})",
            ["objectSid", "nTSecurityDescriptor"],
            sd_flags=sd.OWNER_SECURITY_INFORMATION,
        ):
            parsed = _descriptor(entry, entry.dn, warnings)
            raw_sid = entry.first("objectSid")
            if parsed is not None and parsed.owner and raw_sid:
                result.owners[decode_sid(raw_sid)] = parsed.owner
    return result


def resolve_names(
    conn: DirectoryConnection, domain_dn: str, sids: Iterable[str], known: dict[str, str]
) -> dict[str, str]:
    """``known`` plus well-known names plus one lookup for the domain SIDs still unnamed.
    A SID nobody can name (a deleted account) stays a SID: evidence shows it as it is."""
    names = {**WELL_KNOWN_SIDS, **known}
    missing = sorted({s for s in sids if s not in names and s.startswith("S-1-5-21-")})
    for start in range(0, len(missing), _SID_CHUNK):
        terms = "".join(
            f"(objectSid={sid_filter_value(s)})" for s in missing[start : start + _SID_CHUNK]
        )
        for entry in conn.search(domain_dn, f"(|{terms})", ["objectSid", "sAMAccountName", "cn"]):
            raw_sid = entry.first("objectSid")
            if raw_sid:
                names[decode_sid(raw_sid)] = (
                    entry.text("sAMAccountName") or entry.text("cn") or entry.dn
                )
    return names


def _descriptor(entry: Entry | None, dn: str, warnings: list[str]) -> sd.SecurityDescriptor | None:
    raw = entry.first("nTSecurityDescriptor") if entry else None
    if raw is None:
        warnings.append(f"{dn}: security descriptor not readable")
        return None
    try:
        return sd.parse(raw)
    except ValueError as exc:
        warnings.append(f"{dn}: malformed security descriptor ({exc})")
        return None


def _pso(entry: Entry) -> dict:
    def number(name: str) -> int | None:
        value = entry.text(name)
        return int(value) if value and value.lstrip("-").isdigit() else None

    return {
        "name": entry.text("cn") or entry.dn,
        "dn": entry.dn,
        "precedence": number("msDS-PasswordSettingsPrecedence"),
        "min_length": number("msDS-MinimumPasswordLength"),
        "lockout_threshold": number("msDS-LockoutThreshold"),
        "complexity": (entry.text("msDS-PasswordComplexityEnabled") or "").upper() == "TRUE",
        "applies_to": entry.texts("msDS-PSOAppliesTo"),
    }
