"""Run the collectors over one bound connection and assemble the audit document."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from agent.core.logsetup import get_logger
from agent.directory import collectors, domain_rules, rules, security
from agent.directory.connection import DirectoryConnection
from agent.directory.flags import ADMINISTRATORS, RID_KRBTGT, DomainRid
from agent.directory.membership import Graph, Member, effective_members, privileged_accounts
from agent.directory.model import DirObject, Entry

log = get_logger(__name__)


@dataclass(frozen=True)
class AuditOptions:
    stale_days: int = 90
    recent_days: int = 30
    krbtgt_max_age_days: int = 180
    now: datetime | None = None  # fixed in tests; the wall clock otherwise


@dataclass
class GroupResult:
    found: collectors.FoundGroup
    members: list[Member]
    unresolved: list[str]

    def as_dict(self) -> dict:
        group = self.found.group
        return {
            "rid": group.rid,
            "sid": group.sid,
            "name": group.sam,
            "dn": group.dn,
            "well_known_name": self.found.spec.label,
            "members": [m.as_dict() for m in self.members],
            "unresolved_members": self.unresolved,
        }


@dataclass
class AuditResult:
    domain: collectors.DomainInfo
    objects: list[DirObject]  # accounts, audited groups and foreign principals
    groups: list[GroupResult]
    findings: list[rules.Finding]
    document: dict
    warnings: list[str] = field(default_factory=list)


def run_audit(conn: DirectoryConnection, root: Entry, options: AuditOptions) -> AuditResult:
    """Read the domain (a handful of paged searches) and evaluate every rule in memory."""
    info = collectors.domain_info(conn, root)
    accounts = list(collectors.accounts(conn, info.dn))
    found = collectors.well_known_groups(conn, info)
    nested = collectors.nested_groups(conn, info.dn, [f.group.dn for f in found])
    foreign = collectors.foreign_principals(conn, info.dn)
    groups_by_sid = {g.sid: g for g in [*(f.group for f in found), *nested]}
    objects = [*accounts, *groups_by_sid.values(), *foreign]
    graph = Graph.build(objects, info.sid)

    results = []
    warnings = []
    for item in found:
        members, unresolved = effective_members(item.group, graph)
        results.append(GroupResult(item, members, unresolved))
        if unresolved:
            warnings.append(f"{item.group.sam}: {len(unresolved)} member(s) not readable")
    privileged = privileged_accounts(
        {r.found.group.sid: r.members for r in results if r.found.spec.role == "privileged"}
    )
    view = _domain_view(conn, info, accounts, results, privileged, graph)
    warnings += view.security.warnings
    sids = {o.sid: o.sam for o in objects}
    ctx = rules.Context(
        now=options.now or datetime.now(UTC),
        privileged=frozenset(privileged),
        stale_days=options.stale_days,
        recent_days=options.recent_days,
        krbtgt_max_age_days=options.krbtgt_max_age_days,
        protected=frozenset(
            m.obj.sid for r in results if r.found.spec.role == "protection" for m in r.members
        ),
        names=security.resolve_names(conn, info.dn, _referenced_sids(view, accounts), sids),
    )
    findings = rules.evaluate(accounts, ctx) + domain_rules.evaluate(view, ctx)
    document = _document(info, accounts, results, privileged, findings, options)
    log.debug("directory read in %d round trips", conn.round_trips)
    return AuditResult(info, objects, results, findings, document, warnings)


def _domain_view(
    conn: DirectoryConnection,
    info: collectors.DomainInfo,
    accounts: list[DirObject],
    results: list[GroupResult],
    privileged: dict[str, DirObject],
    graph: Graph,
) -> domain_rules.DomainView:
    """What the domain rules read: owners of DCs and privileged objects, the admins, the
    members of Pre-Windows 2000 Compatible Access."""
    owned = {a.sid: a for a in accounts if a.is_dc}
    owned.update(privileged)
    admin_groups = {
        ADMINISTRATORS,
        f"{info.sid}-{DomainRid.DOMAIN_ADMINS}",
        f"{info.root_sid}-{DomainRid.ENTERPRISE_ADMINS}",
    }
    admins: set[str] = set()
    compat = None
    compat_members: list[tuple[str, str]] = []
    for result in results:
        group = result.found.group
        if result.found.spec.role == "privileged":
            owned[group.sid] = group
            owned.update({m.obj.sid: m.obj for m in result.members if m.obj.kind == "group"})
        if group.sid in admin_groups:
            admins.update(m.obj.sid for m in result.members)
        if result.found.spec.role == "compat":
            compat = group
            for dn in group.members:
                member = graph.lookup(dn)
                compat_members.append((member.sid if member else _fsp_sid(dn), dn))
    return domain_rules.DomainView(
        dns_name=info.dns_name, dn=info.dn, sid=info.sid,
        security=security.collect(conn, info.dn, owned),
        owned=owned, admins=frozenset(admins), compat=compat, compat_members=compat_members,
    )  # fmt: skip


def _fsp_sid(dn: str) -> str:
    """A foreign security principal's SID is its CN (CN=S-1-5-11,CN=ForeignSecurityP...)."""
    first = dn.split(",", 1)[0]
    return first[3:] if first.upper().startswith("CN=S-1-") else dn


def _referenced_sids(view: domain_rules.DomainView, accounts: list[DirObject]) -> set[str]:
    found = set(view.security.owners.values())
    for descriptor in (view.security.head_sd, view.security.adminsdholder_sd):
        if descriptor is not None and descriptor.dacl:
            found.update(ace.sid for ace in descriptor.dacl if ace.sid)
    found.update(s for a in accounts for s in a.rbcd_sids)
    return found


def _document(
    info: collectors.DomainInfo,
    accounts: list[DirObject],
    groups: list[GroupResult],
    privileged: dict[str, DirObject],
    findings: list[rules.Finding],
    options: AuditOptions,
) -> dict:
    by_role: dict[str, list[GroupResult]] = {}
    for group in groups:
        by_role.setdefault(group.found.spec.role, []).append(group)
    dcs = sorted(a.dns_host_name or a.sam for a in accounts if a.kind == "computer" and a.is_dc)
    return {
        "domain": info.as_dict(dcs),
        "privileged_groups": [g.as_dict() for g in by_role.get("privileged", [])],
        "protected_users": sorted(
            m.obj.sam for g in by_role.get("protection", []) for m in g.members
        ),
        "rras": _rras(accounts, by_role.get("rras", [])),
        "service_accounts": _service_accounts(accounts, privileged),
        "computers": _computers(accounts),
        "findings": [f.as_dict() for f in findings],
        "thresholds": {
            "stale_days": options.stale_days,
            "recent_days": options.recent_days,
            "krbtgt_max_age_days": options.krbtgt_max_age_days,
        },
        "counts": {
            "users": sum(1 for a in accounts if a.kind == "user"),
            "computers": sum(1 for a in accounts if a.kind == "computer"),
            "managed_service_accounts": sum(1 for a in accounts if a.kind in ("gmsa", "msa")),
            "privileged_accounts": len(privileged),
            "findings": len(findings),
        },
    }


def _rras(accounts: list[DirObject], groups: list[GroupResult]) -> dict:
    # Dial-in applies to users and computers; managed service accounts never dial in.
    dialable = [a for a in accounts if a.kind in ("user", "computer")]
    return {
        "ras_and_ias_servers": sorted(m.obj.sam for g in groups for m in g.members),
        "dialin_allowed": sorted(a.sam for a in dialable if a.dialin is True),
        "dialin_denied": sorted(a.sam for a in dialable if a.dialin is False),
        # No msNPAllowDialin: the NPS network policy decides ("control access through NPS").
        "dialin_policy_controlled_count": sum(1 for a in dialable if a.dialin is None),
    }


def _service_accounts(accounts: list[DirObject], privileged: dict[str, DirObject]) -> list[dict]:
    chosen = [
        a for a in accounts
        if a.kind in ("gmsa", "msa")
        or (a.kind == "user" and a.spns and a.rid != RID_KRBTGT)
    ]  # fmt: skip
    return [
        {
            "sam": a.sam,
            "dn": a.dn,
            "sid": a.sid,
            "kind": a.kind,
            "enabled": a.enabled,
            "spns": sorted(a.spns),
            "privileged": a.sid in privileged,
            "kerberoastable": a.kind == "user" and a.enabled and bool(a.spns),
        }
        for a in sorted(chosen, key=lambda a: a.sam.lower())
    ]


def _computers(accounts: list[DirObject]) -> dict:
    computers = [a for a in accounts if a.kind == "computer"]
    servers = [c for c in computers if c.is_dc or (c.os and "server" in c.os.lower())]
    server_ids = {id(c) for c in servers}
    workstations = [c for c in computers if id(c) not in server_ids and c.os]
    return {
        "servers": len(servers),
        "workstations": len(workstations),
        "domain_controllers": sorted(c.sam for c in computers if c.is_dc),
        "unknown_os": len(computers) - len(servers) - len(workstations),
        "by_os": dict(sorted(Counter(c.os or "unknown" for c in computers).items())),
    }
