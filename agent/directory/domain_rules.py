"""Rules about the domain, an ACL or a policy rather than one account (pure; no LDAP here).

A domain rule is (id, severity, check); ``check`` returns findings that carry an ``object``
(and for ACE rules the ``principal`` holding the right, one finding per principal with all of
its ACEs as evidence) instead of an ``account``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from agent.directory import sd
from agent.directory.flags import (
    ADMINISTRATORS,
    ANONYMOUS,
    AUTHENTICATED_USERS,
    ENTERPRISE_DCS,
    EVERYONE,
    SELF,
    SYSTEM,
    DomainRid,
)
from agent.directory.model import DirObject
from agent.directory.rules import Context, Finding
from agent.directory.security import DOMAIN_PASSWORD_COMPLEX, DomainSecurity

MIN_PASSWORD_LENGTH = 12
INHERIT_ONLY_ACE = 0x08


@dataclass
class DomainView:
    dns_name: str
    dn: str
    sid: str
    security: DomainSecurity
    # Objects whose owner matters (DCs, privileged accounts and groups), by SID.
    owned: dict[str, DirObject] = field(default_factory=dict)
    admins: frozenset[str] = frozenset()  # effective members of DA, EA, Administrators
    compat: DirObject | None = None  # Pre-Windows 2000 Compatible Access
    compat_members: list[tuple[str, str]] = field(default_factory=list)  # (sid, dn)

    def rid_sid(self, rid: int) -> str:
        return f"{self.sid}-{rid}"

    def admin_sids(self) -> set[str]:
        """Principals that hold these rights by design in every domain."""
        return {SYSTEM, ENTERPRISE_DCS, ADMINISTRATORS,
                *(self.rid_sid(r) for r in (DomainRid.DOMAIN_ADMINS, DomainRid.ENTERPRISE_ADMINS,
                                            DomainRid.DOMAIN_CONTROLLERS,
                                            DomainRid.SCHEMA_ADMINS))}  # fmt: skip


@dataclass(frozen=True)
class DomainRule:
    id: str
    severity: str
    check: Callable[[DomainView, Context], list[Finding]]


def _applies_here(ace: sd.Ace) -> bool:
    """Allowed, and effective on the object itself (not only inherited by children)."""
    return ace.allows and not ace.flags & INHERIT_ONLY_ACE and ace.inherited_object_type is None


def _grants_replication_all(ace: sd.Ace) -> bool:
    if ace.mask & (sd.RIGHTS["GENERIC_ALL"]) or ace.mask & sd.FULL_CONTROL == sd.FULL_CONTROL:
        return True
    control = ace.mask & sd.RIGHTS["CONTROL_ACCESS"]
    # CONTROL_ACCESS without an object type is every extended right, replication included.
    return bool(control) and ace.object_type in (None, sd.GET_CHANGES_ALL)


def _by_principal(aces: list[sd.Ace]) -> dict[str, list[sd.Ace]]:
    grouped: dict[str, list[sd.Ace]] = {}
    for ace in aces:
        grouped.setdefault(ace.sid, []).append(ace)
    return grouped


def _dcsync(view: DomainView, ctx: Context) -> list[Finding]:
    descriptor = view.security.head_sd
    if descriptor is None or descriptor.dacl is None:
        return []
    allowed = view.admin_sids() | {view.rid_sid(DomainRid.ENTERPRISE_READONLY_DCS)}
    hits = [
        a
        for a in descriptor.dacl
        if _applies_here(a) and _grants_replication_all(a) and a.sid not in allowed
    ]
    findings = []
    for sid, aces in sorted(_by_principal(hits).items()):
        name = ctx.name(sid)
        also_changes = any(
            _applies_here(a)
            and a.sid == sid
            and a.mask & sd.RIGHTS["CONTROL_ACCESS"]
            and a.object_type in (None, sd.GET_CHANGES)
            for a in descriptor.dacl
        )
        findings.append(Finding(
            "dcsync_rights", "critical", view.dn,
            f"{name} holds DS-Replication-Get-Changes-All on the domain"
            + (" and Get-Changes: it can DCSync every password hash, krbtgt's included"
               if also_changes else " (Get-Changes missing: one more ACE away from DCSync)"),
            object=view.dns_name, principal=name, principal_sid=sid,
            evidence={"aces": [a.evidence(name) for a in aces],
                      "get_changes": also_changes}))  # fmt: skip
    return findings


# Who writes AdminSDHolder in a default domain, besides the administrators.
_ADMINSDHOLDER_DEFAULT_RIDS = (DomainRid.CERT_PUBLISHERS,)
_ADMINSDHOLDER_DEFAULT_SIDS = {SELF, "S-1-5-32-560", "S-1-5-32-561", "S-1-3-0"}


def _adminsdholder(view: DomainView, ctx: Context) -> list[Finding]:
    descriptor = view.security.adminsdholder_sd
    if descriptor is None or descriptor.dacl is None:
        return []
    default = (
        view.admin_sids()
        | _ADMINSDHOLDER_DEFAULT_SIDS
        | {view.rid_sid(r) for r in _ADMINSDHOLDER_DEFAULT_RIDS}
    )
    hits = [
        a
        for a in descriptor.dacl
        if _applies_here(a) and a.mask & sd.WRITE_RIGHTS and a.sid not in default
    ]
    return [
        Finding(
            "adminsdholder_ace",
            "critical",
            view.security.adminsdholder_dn,
            f"{ctx.name(sid)} may write AdminSDHolder ({', '.join(_rights(aces))}): its ACL "
            "is copied onto every protected admin account and group",
            object="AdminSDHolder",
            principal=ctx.name(sid),
            principal_sid=sid,
            evidence={"aces": [a.evidence(ctx.name(sid)) for a in aces]},
        )
        for sid, aces in sorted(_by_principal(hits).items())
    ]


def _rights(aces: list[sd.Ace]) -> list[str]:
    return sorted({r for a in aces for r in a.rights()})


def _machine_account_quota(view: DomainView, ctx: Context) -> list[Finding]:
    quota = view.security.policy_int("ms-DS-MachineAccountQuota")
    if quota is None or quota <= 0:
        return []
    return [
        Finding(
            "machine_account_quota",
            "medium",
            view.dn,
            f"ms-DS-MachineAccountQuota is {quota}: every user may join {quota} "
            "computers, and a computer account is the first step of RBCD attacks",
            object=view.dns_name,
            evidence={"ms-DS-MachineAccountQuota": quota},
        )
    ]


def _weak_password_policy(view: DomainView, ctx: Context) -> list[Finding]:
    security = view.security
    length = security.policy_int("minPwdLength")
    lockout = security.policy_int("lockoutThreshold")
    properties = security.policy_int("pwdProperties")
    if security.head is None or properties is None:
        return []
    weak = []
    if length is not None and length < MIN_PASSWORD_LENGTH:
        weak.append(f"minimum length {length} (< {MIN_PASSWORD_LENGTH})")
    if lockout == 0:
        weak.append("no lockout")
    if not properties & DOMAIN_PASSWORD_COMPLEX:
        weak.append("complexity off")
    if not weak:
        return []
    return [Finding("weak_password_policy", "medium", view.dn,
                    f"default domain password policy: {', '.join(weak)}"
                    + (f"; {len(security.fine_grained)} fine-grained policies"
                       if security.fine_grained else ""),
                    object=view.dns_name,
                    evidence={"minPwdLength": length, "lockoutThreshold": lockout,
                              "complexity": bool(properties & DOMAIN_PASSWORD_COMPLEX),
                              "fine_grained": security.fine_grained})]  # fmt: skip


_COMPAT_OPEN = {AUTHENTICATED_USERS: "Authenticated Users", EVERYONE: "Everyone",
                ANONYMOUS: "Anonymous Logon"}  # fmt: skip


def _pre_win2000(view: DomainView, ctx: Context) -> list[Finding]:
    group = view.compat
    if group is None:
        return []
    return [
        Finding(
            "pre_win2000_compatible_access",
            "medium",
            group.dn,
            f"{_COMPAT_OPEN[sid]} is in {group.sam}: anyone with that identity reads "
            "every user and group attribute the group may read",
            object=group.sam,
            principal=_COMPAT_OPEN[sid],
            principal_sid=sid,
            evidence={"member_dn": dn, "member_sid": sid},
        )
        for sid, dn in view.compat_members
        if sid in _COMPAT_OPEN
    ]


def _owner(view: DomainView, ctx: Context) -> list[Finding]:
    admin = view.admin_sids() | view.admins
    findings = []
    for sid, obj in sorted(view.owned.items(), key=lambda item: item[1].sam.lower()):
        owner = view.security.owners.get(sid)
        if owner is None or owner in admin:
            continue
        what = "domain controller" if obj.is_dc else "privileged " + obj.public_kind
        target = {"account": obj.sam, "sid": obj.sid} if obj.is_account else {"object": obj.sam}
        findings.append(Finding(
            "privileged_object_owner", "high", obj.dn,
            f"{what} owned by {ctx.name(owner)}, who is no administrator: an owner may rewrite "
            "the object's ACL", **target,
            evidence={"owner": ctx.name(owner), "owner_sid": owner}))  # fmt: skip
    return findings


DOMAIN_RULES: tuple[DomainRule, ...] = (
    DomainRule("dcsync_rights", "critical", _dcsync),
    DomainRule("adminsdholder_ace", "critical", _adminsdholder),
    DomainRule("machine_account_quota", "medium", _machine_account_quota),
    DomainRule("weak_password_policy", "medium", _weak_password_policy),
    DomainRule("pre_win2000_compatible_access", "medium", _pre_win2000),
    DomainRule("privileged_object_owner", "high", _owner),
)
DOMAIN_RULE_IDS = tuple(rule.id for rule in DOMAIN_RULES)


def evaluate(view: DomainView, ctx: Context) -> list[Finding]:
    return [finding for rule in DOMAIN_RULES for finding in rule.check(view, ctx)]
