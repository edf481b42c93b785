"""The answers a correct AD audit gives on the lab fixture (pure; see lab.ad_fixture for the
conventions), computed from the same table that populates the DC."""

from __future__ import annotations

from collections import deque

from lab.ad_fixture import (
    BULK_GROUP,
    DONT_EXPIRE_PASSWORD,
    DONT_REQ_PREAUTH,
    ENCRYPTED_TEXT_PWD_ALLOWED,
    FIXTURE_VERSION,
    KRBTGT_MAX_AGE_DAYS,
    NOT_DELEGATED,
    PASSWD_NOTREQD,
    PRIVILEGED_GROUPS,
    RECENT_DAYS,
    STALE_DAYS,
    TRUSTED_FOR_DELEGATION,
    TRUSTED_TO_AUTH_FOR_DELEGATION,
    USE_DES_KEY_ONLY,
    Fixture,
)

# Every finding rule the audit has, in table order.
RULES = (
    "orphaned_admincount", "privileged_disabled", "privileged_password_never_expires",
    "passwd_notreqd", "asrep_roastable", "reversible_encryption", "sid_history",
    "unconstrained_delegation", "privileged_recently_created", "privileged_never_logged_on",
    "stale_account", "builtin_admin_not_renamed", "guest_enabled", "kerberoastable",
    "kerberoastable_privileged", "krbtgt_password_age",
    "constrained_delegation_protocol_transition", "rbcd_on_privileged", "privileged_not_protected",
    "des_only", "laps_missing", "dcsync_rights", "adminsdholder_ace", "machine_account_quota",
    "weak_password_policy", "pre_win2000_compatible_access", "privileged_object_owner",
)  # fmt: skip
# Samba puts Authenticated Users into Pre-Windows 2000 Compatible Access at provisioning; its
# default policy is minimum length 7, complexity on, no lockout; its machine quota is 10.
PROVISIONED_COMPAT_MEMBERS = ("Authenticated Users",)


def privileged_members(fixture: Fixture, group: str) -> dict[str, dict]:
    """Transitive members of ``group`` with the shortest path to each (breadth first)."""
    primary: dict[str, list[str]] = {}
    for account in fixture.accounts.values():
        if account.primary_group:
            primary.setdefault(account.primary_group, []).append(account.sam)
    found: dict[str, dict] = {}
    queue = deque([(group, [group])])
    seen_groups = {group}
    while queue:
        name, path = queue.popleft()
        links = [(m, False) for m in fixture.groups[name].members] if name in fixture.groups else []
        links += [(m, True) for m in primary.get(name, [])]
        for member, via_primary in links:
            if member in found or member == group:
                continue
            found[member] = {
                "path": path,
                "via_primary_group": via_primary,
                **_kind_and_state(fixture, member),
            }
            if member in fixture.groups and member not in seen_groups:
                seen_groups.add(member)
                queue.append((member, [*path, member]))
    return found


def _kind_and_state(fixture: Fixture, member: str) -> dict:
    if member in fixture.groups:
        return {"enabled": True, "kind": "group"}
    if member.startswith("S-1-"):
        return {"enabled": True, "kind": "foreign"}
    account = fixture.accounts[member]
    kind = "user" if account.kind == "user" else "computer"
    return {"enabled": account.enabled, "kind": kind}


def _findings(fixture: Fixture, privileged: set[str], dns_name: str) -> dict[str, list[str]]:
    """Rule -> subjects: the account, or for ACE rules the principal, or the domain's name."""
    enabled = [a for a in fixture.accounts.values() if a.enabled]
    priv = [a for a in fixture.accounts.values() if a.sam in privileged]
    protected = set(fixture.groups["Protected Users"].members)

    def names(accounts) -> list[str]:
        return sorted(a.sam for a in accounts)

    kerberoastable = [a for a in enabled if a.kind == "user" and a.spns and a.rid != 502]
    return {
        "orphaned_admincount": names(
            a
            for a in fixture.accounts.values()
            if a.admin_count and a.sam not in privileged and a.rid != 502
        ),
        "privileged_disabled": names(a for a in priv if not a.enabled),
        "privileged_password_never_expires": names(
            a for a in priv if a.enabled and a.uac & DONT_EXPIRE_PASSWORD
        ),
        "passwd_notreqd": names(a for a in enabled if a.uac & PASSWD_NOTREQD),
        "asrep_roastable": names(a for a in enabled if a.uac & DONT_REQ_PREAUTH),
        "reversible_encryption": names(a for a in enabled if a.uac & ENCRYPTED_TEXT_PWD_ALLOWED),
        "sid_history": names(a for a in fixture.accounts.values() if a.sid_history),
        "unconstrained_delegation": names(
            a for a in enabled if a.uac & TRUSTED_FOR_DELEGATION and not a.is_dc
        ),
        "privileged_recently_created": names(a for a in priv if a.created_days <= RECENT_DAYS),
        "privileged_never_logged_on": names(
            a for a in priv if a.enabled and a.kind == "user" and a.last_logon_days is None
        ),
        "stale_account": names(
            a for a in enabled if a.last_logon_days is not None and a.last_logon_days > STALE_DAYS
        ),
        "builtin_admin_not_renamed": names(
            a for a in fixture.accounts.values() if a.rid == 500 and a.sam == "Administrator"
        ),
        "guest_enabled": names(a for a in enabled if a.rid == 501),
        "kerberoastable": names(kerberoastable),
        "kerberoastable_privileged": names(a for a in kerberoastable if a.sam in privileged),
        "krbtgt_password_age": names(
            a
            for a in fixture.accounts.values()
            if a.rid == 502 and a.pwd_age_days > KRBTGT_MAX_AGE_DAYS
        ),
        "constrained_delegation_protocol_transition": names(
            a for a in enabled if a.uac & TRUSTED_TO_AUTH_FOR_DELEGATION and not a.is_dc
        ),
        "rbcd_on_privileged": names(
            a for a in fixture.accounts.values() if a.rbcd_from and (a.is_dc or a.sam in privileged)
        ),
        "privileged_not_protected": names(
            a
            for a in priv
            if a.enabled
            and a.kind == "user"
            and a.sam not in protected
            and not a.uac & NOT_DELEGATED
        ),
        "des_only": names(a for a in enabled if a.uac & USE_DES_KEY_ONLY),
        "laps_missing": names(
            a for a in enabled if a.kind == "computer" and not a.is_dc and not a.laps
        ),
        "dcsync_rights": sorted(fixture.dcsync),
        "adminsdholder_ace": sorted(fixture.adminsdholder),
        "machine_account_quota": [dns_name],
        "weak_password_policy": [dns_name],
        "pre_win2000_compatible_access": list(PROVISIONED_COMPAT_MEMBERS),
        "privileged_object_owner": names(
            a for a in fixture.accounts.values() if a.owner and (a.is_dc or a.sam in privileged)
        ),
    }


def expected_answers(
    fixture: Fixture, *, dns_name: str, netbios_name: str, domain_sid: str, dnsadmins_sid: str
) -> dict:
    """What a correct audit of the populated DC reports (JSON-serialisable, no secrets)."""
    privileged: dict[str, dict] = {}
    for name, rid_or_sid in PRIVILEGED_GROUPS.items():
        privileged[name] = {
            "rid_or_sid": rid_or_sid if rid_or_sid is not None else dnsadmins_sid,
            "members": privileged_members(fixture, name),
        }
    privileged_accounts = {
        sam
        for group in privileged.values()
        for sam, m in group["members"].items()
        if m["kind"] in ("user", "computer")
    }
    findings = _findings(fixture, privileged_accounts, dns_name)
    flagged = {sam for names in findings.values() for sam in names}
    accounts = fixture.accounts.values()
    computers = [a for a in accounts if a.kind == "computer" and not a.is_dc]
    return {
        "fixture_version": FIXTURE_VERSION,
        "domain": {"dns_name": dns_name, "netbios_name": netbios_name, "sid": domain_sid},
        "thresholds": {
            "stale_days": STALE_DAYS,
            "recent_days": RECENT_DAYS,
            "krbtgt_max_age_days": KRBTGT_MAX_AGE_DAYS,
        },
        "privileged": privileged,
        "dialin_allowed": sorted(a.sam for a in accounts if a.dialin is True),
        "dialin_denied": sorted(a.sam for a in accounts if a.dialin is False),
        "ras_and_ias_servers": sorted(fixture.groups["RAS and IAS Servers"].members),
        "service_accounts": [
            {
                "sam": a.sam,
                "spns": list(a.spns),
                "privileged": a.sam in privileged_accounts,
                "enabled": a.enabled,
                "kind": a.kind,
            }
            for a in sorted(accounts, key=lambda a: a.sam)
            if a.spns and a.kind in ("user", "gmsa") and a.rid != 502
        ],
        "findings": findings,
        "clean_accounts": sorted(
            a.sam
            for a in accounts
            if a.kind == "user" and a.sam not in flagged and a.sam not in privileged_accounts
        ),
        "computers": {
            "servers": sum(1 for a in computers if a.os and "Server" in a.os),
            "workstations": sum(1 for a in computers if a.os and "Server" not in a.os),
            "domain_controllers": sorted(a.sam for a in accounts if a.is_dc),
        },
        "groups": {BULK_GROUP: {"member_count": len(fixture.groups[BULK_GROUP].members)}},
        "user_count": sum(1 for a in accounts if a.kind == "user"),
    }
