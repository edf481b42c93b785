"""Turn an audit's findings into a remediation plan, from values re-read on one DC.

The plan is data a person reviews (and ``keyturn ad apply`` executes): one action per change,
each with the target's objectGUID (DNs move; GUIDs do not), the exact values it removes and
adds, whether it can be undone and what may break. Findings no action fixes safely are listed
under ``manual`` with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from agent.directory import sd
from agent.directory.actions import KINDS, encode_values, flip
from agent.directory.connection import DirectoryConnection
from agent.directory.flags import DomainRid, Uac
from agent.directory.model import Entry

PLAN_VERSION = 1

# rule -> the action that fixes it; rules missing here are listed as manual.
RULE_ACTIONS = {
    "dcsync_rights": "remove_ace",
    "adminsdholder_ace": "remove_ace",
    "constrained_delegation_protocol_transition": "clear_protocol_transition",
    "rbcd_on_privileged": "clear_rbcd",
    "machine_account_quota": "set_machine_account_quota_zero",
    "pre_win2000_compatible_access": "remove_member",
    "privileged_not_protected": "add_to_protected_users",  # set_not_delegated for services
    "des_only": "clear_des_only",
    "orphaned_admincount": "clear_admincount",
    "privileged_disabled": "remove_member",
    "privileged_password_never_expires": "clear_password_never_expires",
    "passwd_notreqd": "clear_passwd_notreqd",
    "asrep_roastable": "require_preauth",
    "reversible_encryption": "clear_reversible_encryption",
    "unconstrained_delegation": "clear_unconstrained_delegation",
    "stale_account": "disable_account",
    "guest_enabled": "disable_account",
    "kerberoastable_privileged": "remove_spn",
    "krbtgt_password_age": "reset_krbtgt",
}
MANUAL_REASONS = {
    "weak_password_policy": "policy values are a decision for the client: set minPwdLength "
                            ">= 12, a lockout threshold and complexity in the Default Domain "
                            "Policy GPO (a direct LDAP write would be overwritten by it)",
    "privileged_object_owner": "take ownership as Domain Admins after reviewing the ACL the "
                               "owner may have changed",
    "laps_missing": "deploy Windows LAPS to the computer (a GPO and the client), then re-audit",
    "sid_history": "confirm the migration is finished, then clear sIDHistory with the relax "
                   "control",
}  # fmt: skip

_READ = ("objectGUID", "userAccountControl", "adminCount", "servicePrincipalName",
         "ms-DS-MachineAccountQuota", "msDS-AllowedToActOnBehalfOfOtherIdentity", "memberOf",
         "pwdLastSet", "nTSecurityDescriptor")  # fmt: skip


@dataclass
class PlanContext:
    conn: DirectoryConnection
    document: dict
    domain_sid: str
    domain_dn: str
    _cache: dict[str, Entry | None]

    def read(self, dn: str) -> Entry | None:
        key = dn.lower()
        if key not in self._cache:
            self._cache[key] = self.conn.read(dn, _READ, sd_flags=sd.SD_FLAGS_READ)
        return self._cache[key]


def build_plan(
    conn: DirectoryConnection,
    document: dict,
    *,
    client: str,
    dc: str,
    rules: Iterable[str] = (),
    accounts: Iterable[str] = (),
    now: datetime | None = None,
) -> dict:
    """The plan for the ``document``'s findings (optionally only ``rules`` / ``accounts``)."""
    wanted_rules = set(rules)
    wanted_accounts = {a.lower() for a in accounts}
    domain = document["domain"]
    ctx = PlanContext(conn, document, domain["sid"], _domain_dn(document), {})
    actions: list[dict] = []
    manual: list[dict] = []
    for finding in document.get("findings", []):
        subject = finding.get("account") or finding.get("principal") or finding.get("object")
        if wanted_rules and finding["rule"] not in wanted_rules:
            continue
        if wanted_accounts and str(subject).lower() not in wanted_accounts:
            continue
        builder = _BUILDERS.get(RULE_ACTIONS.get(finding["rule"], ""))
        if builder is None:
            manual.append(
                {
                    "rule": finding["rule"],
                    "subject": subject,
                    "dn": finding["dn"],
                    "reason": MANUAL_REASONS.get(
                        finding["rule"], "no safe automatic change: review by hand"
                    ),
                }
            )
            continue
        for action in builder(ctx, finding):
            if "reason" in action:
                manual.append(
                    {
                        "rule": finding["rule"],
                        "subject": subject,
                        "dn": finding["dn"],
                        "reason": action["reason"],
                    }
                )
                continue
            kind = KINDS[action["action"]]
            actions.append({"id": f"a{len(actions) + 1}", "rule": finding["rule"],
                            "subject": subject, "reversible": kind.reversible,
                            "risk": kind.risk, **action})  # fmt: skip
    return {
        "version": PLAN_VERSION,
        "client": client,
        "domain": domain["dns_name"],
        "dc": dc,
        "created": (now or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        "source_run": document.get("run_id"),
        "actions": [_ordered(a) for a in actions],
        "manual": manual,
    }


def _ordered(action: dict) -> dict:
    keys = (
        "id",
        "rule",
        "target_dn",
        "target_guid",
        "action",
        "reversible",
        "risk",
        "before",
        "after",
    )
    return {**{k: action[k] for k in keys}, **{k: v for k, v in action.items() if k not in keys}}


def _domain_dn(document: dict) -> str:
    return ",".join(f"DC={p}" for p in document["domain"]["dns_name"].split("."))


def guid_of(entry: Entry) -> str:
    raw = entry.first("objectGUID")
    if raw is None or len(raw) != 16:
        raise ValueError(f"{entry.dn}: no objectGUID")
    return str(UUID(bytes_le=raw))


def _target(entry: Entry, action: str, before: dict, after: dict, **extra) -> dict:
    return {"target_dn": entry.dn, "target_guid": guid_of(entry), "action": action,
            "before": before, "after": after, **extra}  # fmt: skip


def _gone(finding: dict) -> list[dict]:
    return [{"reason": f"{finding['dn']} no longer exists or is not readable"}]


def _uac(action: str) -> Callable[[PlanContext, dict], list[dict]]:
    kind = KINDS[action]

    def build(ctx: PlanContext, finding: dict) -> list[dict]:
        entry = ctx.read(finding["dn"])
        value = entry.text("userAccountControl") if entry else None
        if entry is None or value is None:
            return _gone(finding)
        current = int(value)
        wanted = flip(current, kind)
        if wanted == current:
            return [{"reason": f"{action}: already done"}]
        return [
            _target(
                entry,
                action,
                {"userAccountControl": [str(current)]},
                {"userAccountControl": [str(wanted)]},
                bit=int(kind.bit),
            )
        ]

    return build


def _privileged_not_protected(ctx: PlanContext, finding: dict) -> list[dict]:
    entry = ctx.read(finding["dn"])
    if entry is None:
        return _gone(finding)
    uac = int(entry.text("userAccountControl") or 0)
    if entry.texts("servicePrincipalName") or uac & Uac.DONT_EXPIRE_PASSWORD:
        # A service account in Protected Users loses NTLM and RC4: its services would stop.
        return _uac("set_not_delegated")(ctx, finding)
    group = ctx.read(f"<SID={ctx.domain_sid}-{int(DomainRid.PROTECTED_USERS)}>")
    if group is None:
        return [{"reason": "this domain has no Protected Users group (before 2012 R2)"}]
    return [
        _target(
            group,
            "add_to_protected_users",
            {"member": []},
            {"member": [entry.dn]},
            member_guid=guid_of(entry),
        )
    ]


def _remove_member(ctx: PlanContext, finding: dict) -> list[dict]:
    if finding["rule"] == "pre_win2000_compatible_access":
        group = ctx.read(finding["dn"])
        member = (finding.get("evidence") or {}).get("member_dn")
        if group is None or not member:
            return _gone(finding)
        return [_target(group, "remove_member", {"member": [member]}, {"member": []})]
    # A disabled privileged account: out of every privileged group it is directly in.
    entry = ctx.read(finding["dn"])
    if entry is None:
        return _gone(finding)
    privileged = {g["dn"].lower() for g in ctx.document.get("privileged_groups", [])}
    privileged |= {
        m["dn"].lower()
        for g in ctx.document.get("privileged_groups", [])
        for m in g["members"]
        if m["kind"] == "group"
    }
    out = []
    for group_dn in entry.texts("memberOf"):
        group = ctx.read(group_dn) if group_dn.lower() in privileged else None
        if group is not None:
            out.append(_target(group, "remove_member", {"member": [entry.dn]}, {"member": []}))
    return out or [
        {"reason": "privileged only through its primary group: change primaryGroupID by hand"}
    ]


def _single(attribute: str, action: str, new: list[str] | None = None):
    def build(ctx: PlanContext, finding: dict) -> list[dict]:
        entry = ctx.read(finding["dn"])
        if entry is None or attribute.lower() not in entry.raw:
            return _gone(finding) if entry is None else [{"reason": f"no {attribute} any more"}]
        before = encode_values(attribute, entry.raw[attribute.lower()])
        return [_target(entry, action, {attribute: before}, {attribute: new or []})]

    return build


def _remove_ace(ctx: PlanContext, finding: dict) -> list[dict]:
    entry = ctx.read(finding["dn"])
    raw = entry.first("nTSecurityDescriptor") if entry else None
    if entry is None or raw is None:
        return _gone(finding)
    aces = [bytes.fromhex(a["ace_hex"]) for a in (finding.get("evidence") or {}).get("aces", [])]
    after = raw
    for ace in aces:
        try:
            after = sd.without_ace(after, ace)
        except ValueError:
            return [{"reason": "the ACE is no longer on the object"}]
    return [
        _target(
            entry,
            "remove_ace",
            {"nTSecurityDescriptor": encode_values("nTSecurityDescriptor", [raw])},
            {"nTSecurityDescriptor": encode_values("nTSecurityDescriptor", [after])},
            aces=[a.hex() for a in aces],
            principal=finding.get("principal"),
        )
    ]


def _reset_krbtgt(ctx: PlanContext, finding: dict) -> list[dict]:
    entry = ctx.read(finding["dn"])
    if entry is None:
        return _gone(finding)
    return [
        _target(entry, "reset_krbtgt", {"pwdLastSet": entry.texts("pwdLastSet")}, {}, staged=True)
    ]


_BUILDERS: dict[str, Callable[[PlanContext, dict], list[dict]]] = {
    **{name: _uac(name) for name, kind in KINDS.items() if kind.bit is not None},
    "add_to_protected_users": _privileged_not_protected,
    "remove_member": _remove_member,
    "remove_spn": _single("servicePrincipalName", "remove_spn"),
    "clear_rbcd": _single("msDS-AllowedToActOnBehalfOfOtherIdentity", "clear_rbcd"),
    "clear_admincount": _single("adminCount", "clear_admincount"),
    "set_machine_account_quota_zero": _single(
        "ms-DS-MachineAccountQuota", "set_machine_account_quota_zero", ["0"]
    ),
    "remove_ace": _remove_ace,
    "reset_krbtgt": _reset_krbtgt,
}
