"""Collectors: each reads one kind of thing from the directory and yields decoded objects.

Round trips matter (the audit runs against a DC across a WAN link as often as not), so each
collector is one paged search: all accounts at once, all well-known groups at once, and every
group nested below them in one in-chain search restricted to groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from agent.core.errors import OperationFailed
from agent.directory.connection import MEMBER_RANGE, DirectoryConnection, dns_domain
from agent.directory.flags import (
    BUILTIN_DOMAIN_SID,
    SamAccountType,
    decode_sid,
    sid_filter_value,
)
from agent.directory.model import ACCOUNT_ATTRIBUTES, GROUP_ATTRIBUTES, DirObject, Entry, from_entry

# LDAP_MATCHING_RULE_IN_CHAIN: follows member links transitively, server side.
IN_CHAIN = "1.2.840.113556.1.4.1941"

Role = Literal["privileged", "protection", "rras", "compat"]


@dataclass(frozen=True)
class GroupSpec:
    """A well-known group, found by SID (names are localised: "Admins du domaine")."""

    label: str  # the English name, for documentation and messages only
    role: Role
    rid: int | None = None  # relative to the domain (or the forest root) SID
    builtin_rid: int | None = None  # relative to S-1-5-32
    forest_root: bool = False
    # DnsAdmins has no fixed RID; its name is the only handle AD gives it.
    by_name: str | None = None

    def sid(self, domain_sid: str, root_sid: str) -> str | None:
        if self.builtin_rid is not None:
            return f"{BUILTIN_DOMAIN_SID}-{self.builtin_rid}"
        if self.rid is not None:
            return f"{root_sid if self.forest_root else domain_sid}-{self.rid}"
        return None


WELL_KNOWN_GROUPS: tuple[GroupSpec, ...] = (
    GroupSpec("Administrators", "privileged", builtin_rid=544),
    GroupSpec("Domain Admins", "privileged", rid=512),
    GroupSpec("Enterprise Admins", "privileged", rid=519, forest_root=True),
    GroupSpec("Schema Admins", "privileged", rid=518, forest_root=True),
    GroupSpec("Account Operators", "privileged", builtin_rid=548),
    GroupSpec("Server Operators", "privileged", builtin_rid=549),
    GroupSpec("Print Operators", "privileged", builtin_rid=550),
    GroupSpec("Backup Operators", "privileged", builtin_rid=551),
    GroupSpec("Group Policy Creator Owners", "privileged", rid=520),
    GroupSpec("Key Admins", "privileged", rid=526),
    GroupSpec("Enterprise Key Admins", "privileged", rid=527, forest_root=True),
    GroupSpec("DnsAdmins", "privileged", by_name="DnsAdmins"),
    GroupSpec("Protected Users", "protection", rid=525),
    GroupSpec("RAS and IAS Servers", "rras", rid=553),  # a domain-local group, not builtin
    GroupSpec("Pre-Windows 2000 Compatible Access", "compat", builtin_rid=554),
)

FUNCTIONAL_LEVELS = {
    0: "2000", 1: "2003 interim", 2: "2003", 3: "2008", 4: "2008 R2", 5: "2012",
    6: "2012 R2", 7: "2016",
}  # fmt: skip


@dataclass
class DomainInfo:
    dn: str
    dns_name: str
    netbios_name: str | None
    sid: str
    root_sid: str  # the forest root domain's SID (Enterprise/Schema Admins live there)
    functional_level: str
    dc_host: str | None  # the DC that answered

    def as_dict(self, dcs: list[str]) -> dict:
        return {
            "dns_name": self.dns_name,
            "netbios_name": self.netbios_name,
            "sid": self.sid,
            "functional_level": self.functional_level,
            "dcs": dcs,
        }


@dataclass
class FoundGroup:
    spec: GroupSpec
    group: DirObject


def domain_info(conn: DirectoryConnection, root: Entry) -> DomainInfo:
    """The domain object, its NetBIOS name (from the Partitions container), the forest root."""
    base = root.text("defaultNamingContext")
    if not base:
        raise OperationFailed("the rootDSE names no default naming context: not an AD DC?")
    domain = conn.read(base, ["objectSid"])
    if domain is None or domain.first("objectSid") is None:
        raise OperationFailed(f"insufficient rights: cannot read the domain object {base}")
    sid = decode_sid(domain.first("objectSid"))
    root_dn = root.text("rootDomainNamingContext") or base
    root_sid = sid
    if root_dn.lower() != base.lower():
        forest_root = conn.read(root_dn, ["objectSid"])
        if forest_root is not None and forest_root.first("objectSid"):
            root_sid = decode_sid(forest_root.first("objectSid"))
    netbios = None
    config = root.text("configurationNamingContext")
    if config:
        ref_filter = f"(&(objectClass=crossRef)(nCName={escape_filter(base)}))"
        for entry in conn.search(
            f"CN=Partitions,{config}", ref_filter, ["nETBIOSName"], scope="one"
        ):
            netbios = entry.text("nETBIOSName")
    level = root.text("domainFunctionality")
    return DomainInfo(
        dn=base,
        dns_name=dns_domain(base),
        netbios_name=netbios,
        sid=sid,
        root_sid=root_sid,
        functional_level=FUNCTIONAL_LEVELS.get(int(level), level) if level else "unknown",
        dc_host=root.text("dnsHostName"),
    )


def accounts(conn: DirectoryConnection, base: str) -> Iterator[DirObject]:
    """Every user, computer and managed service account (sAMAccountType is indexed)."""
    account_filter = (
        f"(|(sAMAccountType={int(SamAccountType.NORMAL_USER_ACCOUNT)})"
        f"(sAMAccountType={int(SamAccountType.MACHINE_ACCOUNT)}))"
    )
    for entry in conn.search(base, account_filter, ACCOUNT_ATTRIBUTES):
        yield from_entry(entry)


def well_known_groups(
    conn: DirectoryConnection, info: DomainInfo, specs: Iterable[GroupSpec] = WELL_KNOWN_GROUPS
) -> list[FoundGroup]:
    """The groups of ``specs`` present in this domain, each with its complete member list."""
    specs = list(specs)
    wanted = {
        spec.sid(info.sid, info.root_sid): spec
        for spec in specs
        if spec.sid(info.sid, info.root_sid)
    }
    by_name = {spec.by_name.lower(): spec for spec in specs if spec.by_name}
    terms = [f"(objectSid={sid_filter_value(sid)})" for sid in wanted]
    terms += [f"(sAMAccountName={escape_filter(name)})" for name in by_name]
    found: list[FoundGroup] = []
    group_filter = f"(&(objectClass=group)(|{''.join(terms)}))"
    for entry in conn.search(info.dn, group_filter, [*GROUP_ATTRIBUTES, MEMBER_RANGE]):
        group = _group(conn, entry)
        spec = wanted.get(group.sid) or by_name.get(group.sam.lower())
        if spec is not None:
            found.append(FoundGroup(spec, group))
    order = {spec.label: i for i, spec in enumerate(specs)}
    return sorted(found, key=lambda f: order[f.spec.label])


def nested_groups(conn: DirectoryConnection, base: str, group_dns: list[str]) -> list[DirObject]:
    """Every group nested (at any depth) in any of ``group_dns``, with its member list.

    The in-chain rule is asked about groups only: evaluated over every object of a 10,000-user
    domain it costs Samba ~1 s per group, restricted to groups ~10 ms (measured), and the
    non-group members come from the member lists of the groups it returns.
    """
    if not group_dns:
        return []
    chain = "".join(f"(memberOf:{IN_CHAIN}:={escape_filter(dn)})" for dn in group_dns)
    nested_filter = f"(&(objectCategory=group)(|{chain}))"
    return [
        _group(conn, e) for e in conn.search(base, nested_filter, [*GROUP_ATTRIBUTES, MEMBER_RANGE])
    ]


def foreign_principals(conn: DirectoryConnection, base: str) -> list[DirObject]:
    """Foreign security principals: members from trusted domains and well-known SIDs."""
    return [
        from_entry(entry)
        for entry in conn.search(
            f"CN=ForeignSecurityPrincipals,{base}",
            "(objectClass=foreignSecurityPrincipal)",
            ["objectSid", "objectClass"],
            scope="one",
        )
        if entry.first("objectSid")
    ]


def _group(conn: DirectoryConnection, entry: Entry) -> DirObject:
    group = from_entry(entry)
    group.members = conn.members(entry)
    return group


def escape_filter(value: str) -> str:
    """RFC 4515 filter escaping."""
    out = []
    for char in value:
        if char in "\\*()\0":
            out.append(f"\\{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)
