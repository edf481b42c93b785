"""Audit rules: a table of small named predicates over accounts, each yielding findings.

A rule is (id, severity, predicate, detail). Rules look at enabled accounts unless being
disabled is the point (``privileged_disabled``) or the attribute matters either way
(``sid_history``, ``orphaned_admincount``, ``privileged_recently_created``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from agent.directory.flags import (
    DEFAULT_ADMINISTRATOR_NAMES,
    RID_ADMINISTRATOR,
    RID_GUEST,
    RID_KRBTGT,
    Uac,
)
from agent.directory.model import DirObject

SEVERITIES = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class Context:
    now: datetime
    privileged: frozenset[str]  # SIDs of accounts in any privileged group
    stale_days: int = 90
    recent_days: int = 30
    krbtgt_max_age_days: int = 180
    protected: frozenset[str] = frozenset()  # SIDs of Protected Users members
    names: Mapping[str, str] = field(default_factory=dict)  # SID -> name, for evidence

    def name(self, sid: str) -> str:
        return self.names.get(sid, sid)

    def is_privileged(self, obj: DirObject) -> bool:
        return obj.sid in self.privileged

    def days_since(self, when: datetime | None) -> int | None:
        return None if when is None else (self.now - when).days


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    applies: Callable[[DirObject, Context], bool]
    detail: Callable[[DirObject, Context], str]
    evidence: Callable[[DirObject, Context], dict] | None = None


@dataclass(frozen=True)
class Finding:
    """One rule firing. Account rules name an ``account``; rules about the domain, an ACL or
    a policy name an ``object`` (and, for ACE findings, the ``principal`` holding the right)."""

    rule: str
    severity: str
    dn: str
    detail: str
    account: str | None = None
    sid: str | None = None
    object: str | None = None
    principal: str | None = None
    principal_sid: str | None = None
    evidence: dict = field(default_factory=dict)

    @property
    def subject(self) -> str:
        """Who the finding is about: the account, else the principal, else the object."""
        return self.account or self.principal or self.object or self.dn

    def as_dict(self) -> dict:
        out: dict = {"rule": self.rule, "severity": self.severity}
        if self.account is not None:
            out.update(account=self.account, sid=self.sid)
        else:
            out["object"] = self.object
            if self.principal is not None:
                out.update(principal=self.principal, principal_sid=self.principal_sid)
        out.update(dn=self.dn, detail=self.detail)
        if self.evidence:
            out["evidence"] = self.evidence
        return out


def _on(obj: DirObject) -> bool:
    return obj.is_account and obj.enabled


def _kerberoastable(obj: DirObject, ctx: Context) -> bool:
    # Computer and managed accounts have 120-character random passwords: not worth cracking.
    return _on(obj) and obj.kind == "user" and bool(obj.spns) and obj.rid != RID_KRBTGT


def _older_than(when: datetime | None, ctx: Context, days: int) -> bool:
    return when is not None and ctx.now - when > timedelta(days=days)


def _date(when: datetime | None) -> str:
    return when.date().isoformat() if when else "never"


RULES: tuple[Rule, ...] = (
    Rule("orphaned_admincount", "low",
         lambda o, c: o.is_account and o.admin_count and not c.is_privileged(o)
         and o.rid != RID_KRBTGT,
         lambda o, c: "adminCount=1 but in no privileged group: it keeps the protected ACL "
                      "of a former admin (AdminSDHolder) and may be a leftover"),
    Rule("privileged_disabled", "low",
         lambda o, c: o.is_account and c.is_privileged(o) and not o.enabled,
         lambda o, c: "disabled but still a member of a privileged group"),
    Rule("privileged_password_never_expires", "medium",
         lambda o, c: _on(o) and c.is_privileged(o) and Uac.DONT_EXPIRE_PASSWORD in o.uac,
         lambda o, c: f"privileged, password never expires (last set {_date(o.pwd_last_set)})"),
    Rule("passwd_notreqd", "medium",
         lambda o, c: _on(o) and Uac.PASSWD_NOTREQD in o.uac,
         lambda o, c: "PASSWD_NOTREQD: the account may have an empty password"),
    Rule("asrep_roastable", "high",
         lambda o, c: _on(o) and Uac.DONT_REQ_PREAUTH in o.uac,
         lambda o, c: "Kerberos pre-authentication disabled: anyone can request a crackable "
                      "AS-REP"),
    Rule("reversible_encryption", "high",
         lambda o, c: _on(o) and Uac.ENCRYPTED_TEXT_PWD_ALLOWED in o.uac,
         lambda o, c: "password stored with reversible encryption"),
    Rule("sid_history", "medium",
         lambda o, c: o.is_account and bool(o.sid_history),
         lambda o, c: f"sIDHistory carries {', '.join(o.sid_history)}"),
    Rule("unconstrained_delegation", "high",
         lambda o, c: _on(o) and Uac.TRUSTED_FOR_DELEGATION in o.uac and not o.is_dc,
         lambda o, c: "trusted for unconstrained delegation: it receives forwardable TGTs of "
                      "everyone who authenticates to it"),
    Rule("privileged_recently_created", "high",
         lambda o, c: c.is_privileged(o) and o.when_created is not None
         and not _older_than(o.when_created, c, c.recent_days),
         lambda o, c: f"privileged account created {_date(o.when_created)} (within "
                      f"{c.recent_days} days): confirm who created it"),
    Rule("privileged_never_logged_on", "medium",
         lambda o, c: _on(o) and c.is_privileged(o) and o.kind == "user" and o.last_logon is None,
         lambda o, c: "privileged and never logged on (no lastLogonTimestamp)"),
    Rule("stale_account", "low",
         lambda o, c: _on(o) and _older_than(o.last_logon, c, c.stale_days),
         lambda o, c: f"last logon {_date(o.last_logon)}, over {c.stale_days} days ago "
                      "(lastLogonTimestamp; replicated, up to 14 days behind the per-DC "
                      "lastLogon)"),
    Rule("builtin_admin_not_renamed", "low",
         lambda o, c: o.rid == RID_ADMINISTRATOR and o.sam.lower() in DEFAULT_ADMINISTRATOR_NAMES,
         lambda o, c: f"the built-in administrator (RID 500) still has its default name "
                      f"{o.sam}"),
    Rule("guest_enabled", "high",
         lambda o, c: _on(o) and o.rid == RID_GUEST,
         lambda o, c: "the built-in Guest account is enabled"),
    Rule("kerberoastable", "medium",
         _kerberoastable,
         lambda o, c: f"user with SPNs ({', '.join(sorted(o.spns))}): its service tickets can "
                      "be cracked offline"),
    Rule("kerberoastable_privileged", "critical",
         lambda o, c: _kerberoastable(o, c) and c.is_privileged(o),
         lambda o, c: "privileged user with SPNs: cracking one service ticket yields an admin "
                      "password"),
    Rule("krbtgt_password_age", "medium",
         lambda o, c: o.rid == RID_KRBTGT and o.is_account
         and _older_than(o.pwd_last_set, c, c.krbtgt_max_age_days),
         lambda o, c: f"krbtgt password last set {_date(o.pwd_last_set)} "
                      f"({c.days_since(o.pwd_last_set)} days ago; rotate it twice)"),
    Rule("constrained_delegation_protocol_transition", "high",
         lambda o, c: _on(o) and Uac.TRUSTED_TO_AUTH_FOR_DELEGATION in o.uac and not o.is_dc,
         lambda o, c: "constrained delegation with protocol transition (TRUSTED_TO_AUTH_FOR_"
                      "DELEGATION): it can impersonate anyone, without their password, to "
                      f"{', '.join(o.delegate_to) or 'its listed services'}",
         lambda o, c: {"userAccountControl": int(o.uac),
                       "msDS-AllowedToDelegateTo": o.delegate_to}),
    Rule("rbcd_on_privileged", "critical",
         lambda o, c: o.is_account and (o.is_dc or c.is_privileged(o)) and bool(o.rbcd_sids),
         lambda o, c: "resource-based constrained delegation on a DC or privileged account: "
                      f"{', '.join(c.name(s) for s in o.rbcd_sids)} may impersonate anyone to "
                      "it",
         lambda o, c: {"msDS-AllowedToActOnBehalfOfOtherIdentity": [
             {"principal": c.name(s), "sid": s} for s in o.rbcd_sids]}),
    Rule("privileged_not_protected", "medium",
         lambda o, c: _on(o) and o.kind == "user" and c.is_privileged(o)
         and o.sid not in c.protected and Uac.NOT_DELEGATED not in o.uac,
         lambda o, c: "privileged user neither in Protected Users nor marked sensitive "
                      "(NOT_DELEGATED): its credentials can be delegated and cached",
         lambda o, c: {"userAccountControl": int(o.uac), "protected_users": False}),
    Rule("des_only", "medium",
         lambda o, c: _on(o) and Uac.USE_DES_KEY_ONLY in o.uac,
         lambda o, c: "USE_DES_KEY_ONLY: Kerberos tickets with DES, broken since the 1990s",
         lambda o, c: {"userAccountControl": int(o.uac)}),
    Rule("laps_missing", "medium",
         lambda o, c: _on(o) and o.kind == "computer" and not o.is_dc and not o.has_laps,
         lambda o, c: "no LAPS password expiry (legacy ms-Mcs-AdmPwdExpirationTime or Windows "
                      "LAPS msLAPS-PasswordExpirationTime): its local administrator password "
                      "is probably the one the previous provider set",
         lambda o, c: {"ms-Mcs-AdmPwdExpirationTime": None,
                       "msLAPS-PasswordExpirationTime": None}),
)  # fmt: skip

RULE_IDS = tuple(rule.id for rule in RULES)


def evaluate(
    objects: Iterable[DirObject], ctx: Context, rules: Iterable[Rule] = RULES
) -> list[Finding]:
    """Every finding of every rule, ordered by rule table then account name."""
    objects = sorted(objects, key=lambda o: o.sam.lower())
    return [
        Finding(
            rule.id,
            rule.severity,
            obj.dn,
            rule.detail(obj, ctx),
            account=obj.sam,
            sid=obj.sid,
            evidence=rule.evidence(obj, ctx) if rule.evidence else {},
        )
        for rule in rules
        for obj in objects
        if rule.applies(obj, ctx)
    ]
