"""Security descriptors, the domain-level rules, plan validation and LDIF (pure, no LDAP).

The descriptors here are built byte by byte as MS-DTYP 2.4.6 lays them out, so the parser is
checked against the format, not against itself; the lab tests read real ones from Samba.
"""

from __future__ import annotations

import base64
import struct
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from agent.core.errors import UsageError
from agent.core.secret import Secret
from agent.directory import krbtgt, sd
from agent.directory.domain_rules import DomainView, evaluate
from agent.directory.flags import Uac, encode_sid
from agent.directory.krbtgt import KrbtgtState
from agent.directory.ldif import render
from agent.directory.model import DirObject, Entry
from agent.directory.remediation import select, validate_plan
from agent.directory.rules import Context
from agent.directory.security import DomainSecurity

DOMAIN_SID = "S-1-5-21-1-2-3"
DOMAIN_DN = "DC=corp,DC=test"
NOW = datetime(2026, 11, 1, tzinfo=UTC)
SYNC = f"{DOMAIN_SID}-1130"
HELPDESK = f"{DOMAIN_SID}-1131"


def ace(
    ace_type: int,
    mask: int,
    sid: str,
    object_type: str | None = None,
    flags: int = 0,
    inherited_type: str | None = None,
) -> bytes:
    body = struct.pack("<I", mask)
    if ace_type in (sd.ACCESS_ALLOWED_OBJECT, sd.ACCESS_DENIED_OBJECT):
        present = (1 if object_type else 0) | (2 if inherited_type else 0)
        body += struct.pack("<I", present)
        if object_type:
            body += UUID(object_type).bytes_le
        if inherited_type:
            body += UUID(inherited_type).bytes_le
    body += encode_sid(sid)
    return struct.pack("<BBH", ace_type, flags, 4 + len(body)) + body


def descriptor(aces: list[bytes], owner: str = f"{DOMAIN_SID}-512") -> bytes:
    owner_raw, group_raw = encode_sid(owner), encode_sid(f"{DOMAIN_SID}-512")
    dacl = struct.pack("<BBHHH", 4, 0, 8 + sum(map(len, aces)), len(aces), 0) + b"".join(aces)
    owner_off = 20
    group_off = owner_off + len(owner_raw)
    dacl_off = group_off + len(group_raw)
    header = struct.pack("<BBHIIII", 1, 0, 0x8004, owner_off, group_off, 0, dacl_off)
    return header + owner_raw + group_raw + dacl


GET_ALL = ace(sd.ACCESS_ALLOWED_OBJECT, 0x100, SYNC, sd.GET_CHANGES_ALL)
GET = ace(sd.ACCESS_ALLOWED_OBJECT, 0x100, SYNC, sd.GET_CHANGES)
DC_GET_ALL = ace(sd.ACCESS_ALLOWED_OBJECT, 0x100, f"{DOMAIN_SID}-516", sd.GET_CHANGES_ALL)
READ = ace(sd.ACCESS_ALLOWED, 0x20094, "S-1-5-11")
# Inherit-only: applies to child objects, not the domain head itself.
CHILD_ONLY = ace(sd.ACCESS_ALLOWED_OBJECT, 0x100, HELPDESK, sd.GET_CHANGES_ALL, flags=0x08)


def test_parse_reads_owner_dacl_and_object_aces() -> None:
    parsed = sd.parse(descriptor([READ, GET_ALL, DC_GET_ALL]))
    assert parsed.owner == f"{DOMAIN_SID}-512"
    assert [a.sid for a in parsed.dacl] == ["S-1-5-11", SYNC, f"{DOMAIN_SID}-516"]
    assert parsed.dacl[1].object_type == sd.GET_CHANGES_ALL
    assert (
        parsed.dacl[1].evidence("svc_sync")["object_type_name"] == "DS-Replication-Get-Changes-All"
    )


@pytest.mark.parametrize(
    "raw", [b"", b"\x01" * 19, descriptor([READ])[:-3], b"\x02" + descriptor([READ])[1:]]
)
def test_parse_refuses_malformed_descriptors(raw: bytes) -> None:
    with pytest.raises(ValueError):
        sd.parse(raw)


def test_without_ace_removes_exactly_one_and_keeps_the_rest() -> None:
    raw = descriptor([READ, GET_ALL, GET, DC_GET_ALL])
    out = sd.without_ace(raw, GET_ALL)
    assert [a.raw for a in sd.parse(out).dacl] == [READ, GET, DC_GET_ALL]
    assert sd.parse(out).owner == sd.parse(raw).owner
    assert sd.without_ace(sd.without_ace(raw, GET_ALL), GET) == descriptor([READ, DC_GET_ALL])
    with pytest.raises(ValueError):
        sd.without_ace(out, GET_ALL)


def _view(head_aces: list[bytes], holder_aces: list[bytes] | None = None, *,
          policy: dict[str, str] | None = None, owners: dict[str, str] | None = None,
          owned: dict[str, DirObject] | None = None,
          compat: list[tuple[str, str]] = ()) -> DomainView:  # fmt: skip
    values = {
        "minPwdLength": "14",
        "lockoutThreshold": "5",
        "pwdProperties": "1",
        "ms-DS-MachineAccountQuota": "0",
        **(policy or {}),
    }
    head = Entry(DOMAIN_DN, {k.lower(): [v.encode()] for k, v in values.items()})
    security = DomainSecurity(
        head=head,
        head_sd=sd.parse(descriptor(head_aces)),
        adminsdholder_dn=f"CN=AdminSDHolder,CN=System,{DOMAIN_DN}",
        adminsdholder_sd=sd.parse(descriptor(holder_aces or [READ])),
        owners=owners or {},
    )
    group = DirObject(
        dn=f"CN=Pre-Windows 2000 Compatible Access,CN=Builtin,{DOMAIN_DN}",
        sid="S-1-5-32-554",
        sam="Pre-Windows 2000 Compatible Access",
        kind="group",
    )
    return DomainView(
        "corp.test",
        DOMAIN_DN,
        DOMAIN_SID,
        security,
        owned or {},
        frozenset({f"{DOMAIN_SID}-500"}),
        group,
        list(compat),
    )


CTX = Context(now=NOW, privileged=frozenset(), names={SYNC: "svc_sync", HELPDESK: "helpdesk"})


def _found(view: DomainView) -> set[tuple[str, str]]:
    return {(f.rule, f.principal or f.account or f.object) for f in evaluate(view, CTX)}


def test_a_clean_domain_gives_no_domain_finding() -> None:
    assert _found(_view([READ, DC_GET_ALL, CHILD_ONLY])) == set()


def test_dcsync_groups_aces_by_principal_with_evidence() -> None:
    findings = evaluate(_view([READ, GET_ALL, GET, DC_GET_ALL]), CTX)
    assert [(f.rule, f.principal) for f in findings] == [("dcsync_rights", "svc_sync")]
    finding = findings[0].as_dict()
    assert finding["object"] == "corp.test" and "account" not in finding
    assert finding["evidence"]["get_changes"] is True
    assert [a["ace_hex"] for a in finding["evidence"]["aces"]] == [GET_ALL.hex()]


def test_generic_all_on_the_domain_is_dcsync_too() -> None:
    full = ace(sd.ACCESS_ALLOWED, sd.FULL_CONTROL, HELPDESK)
    assert _found(_view([full])) == {("dcsync_rights", "helpdesk")}


def test_adminsdholder_write_by_a_non_default_principal() -> None:
    write = ace(sd.ACCESS_ALLOWED, sd.RIGHTS["WRITE_DACL"], HELPDESK)
    self_write = ace(sd.ACCESS_ALLOWED_OBJECT, 0x20, "S-1-5-10", sd.GET_CHANGES)
    assert _found(_view([], [READ, write, self_write])) == {("adminsdholder_ace", "helpdesk")}


@pytest.mark.parametrize(("policy", "rule"), [
    ({"ms-DS-MachineAccountQuota": "10"}, "machine_account_quota"),
    ({"minPwdLength": "7"}, "weak_password_policy"),
    ({"lockoutThreshold": "0"}, "weak_password_policy"),
    ({"pwdProperties": "0"}, "weak_password_policy"),
])  # fmt: skip
def test_policy_rules(policy: dict[str, str], rule: str) -> None:
    assert _found(_view([], policy=policy)) == {(rule, "corp.test")}


def test_pre_win2000_fires_on_open_members_only() -> None:
    members = [
        ("S-1-5-11", "CN=S-1-5-11,CN=ForeignSecurityPrincipals"),
        (f"{DOMAIN_SID}-1500", "CN=legacy-app,OU=Servers"),
    ]
    assert _found(_view([], compat=members)) == {
        ("pre_win2000_compatible_access", "Authenticated Users")
    }


def test_owner_of_privileged_objects() -> None:
    admin = DirObject(
        dn="CN=adm,OU=Admins",
        sid=f"{DOMAIN_SID}-1200",
        sam="adm",
        kind="user",
        uac=Uac.NORMAL_ACCOUNT,
    )
    dc = DirObject(
        dn="CN=DC1,OU=Domain Controllers",
        sid=f"{DOMAIN_SID}-1000",
        sam="DC1$",
        kind="computer",
        uac=Uac.SERVER_TRUST_ACCOUNT,
    )
    view = _view(
        [],
        owned={admin.sid: admin, dc.sid: dc},
        owners={admin.sid: HELPDESK, dc.sid: f"{DOMAIN_SID}-512"},
    )
    assert _found(view) == {("privileged_object_owner", "adm")}
    view.security.owners[admin.sid] = f"{DOMAIN_SID}-500"  # owned by an admin: fine
    assert _found(view) == set()


# --- plan files are input: validated before anything is sent ---------------------------------

GUID = "e5aec7a9-4ce4-4285-ab9d-9dbf664e41b9"


def _plan(**action) -> dict:
    base = {
        "id": "a1",
        "rule": "des_only",
        "target_dn": "CN=x,DC=corp,DC=test",
        "target_guid": GUID,
        "action": "clear_des_only",
        "reversible": True,
        "risk": "r",
        "before": {"userAccountControl": ["2097664"]},
        "after": {"userAccountControl": ["512"]},
    }
    return {"version": 1, "domain": "corp.test", "actions": [{**base, **action}]}


@pytest.mark.parametrize(("change", "message"), [
    ({"action": "rm -rf"}, "unknown action"),
    ({"target_guid": "CN=x"}, "not a GUID"),
    ({"before": {"member": "x"}}, "before/after"),
    ({"after": {"member": [1]}}, "before/after"),
])  # fmt: skip
def test_validate_plan_refuses_bad_actions(change: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        validate_plan(_plan(**change))


def test_validate_plan_refuses_other_versions_and_unknown_only_ids() -> None:
    with pytest.raises(UsageError, match="version"):
        validate_plan({**_plan(), "version": 2})
    with pytest.raises(UsageError, match="a9"):
        select(validate_plan(_plan()), ["a9"])
    assert select(validate_plan(_plan()), ["a1"])[0]["id"] == "a1"


def test_ldif_records_delete_old_and_add_new_and_undo_reverses() -> None:
    raw = descriptor([READ, GET_ALL])
    new = sd.without_ace(raw, GET_ALL)
    plan = _plan()
    plan["actions"].append(
        {
            **plan["actions"][0],
            "id": "a2",
            "action": "remove_ace",
            "target_dn": DOMAIN_DN,
            "before": {"nTSecurityDescriptor": [base64.b64encode(raw).decode()]},
            "after": {"nTSecurityDescriptor": [base64.b64encode(new).decode()]},
        }
    )
    text = render(plan)
    assert (
        "dn: CN=x,DC=corp,DC=test\nchangetype: modify\ndelete: userAccountControl\n"
        "userAccountControl: 2097664\n-\nadd: userAccountControl\nuserAccountControl: 512\n-"
        in text
    )
    dacl_only = base64.b64encode(bytes([0x30, 3, 2, 1, 4])).decode()  # SEQUENCE { INTEGER 4 }
    assert f"control: 1.2.840.113556.1.4.801 true:: {dacl_only}" in text
    assert f"nTSecurityDescriptor:: {base64.b64encode(new).decode()}" in text
    undo = render(plan, undo=True)
    assert undo.index("a2 undo") < undo.index("a1 undo")
    assert f"nTSecurityDescriptor:: {base64.b64encode(raw).decode()}" in undo
    assert "delete: userAccountControl\nuserAccountControl: 512\n" in undo


# --- the last-Domain-Admin guard (its decision; the LDAP it asks is faked here) -------------


class _Directory:
    """Answers the guard's questions: enabled users per group, objects by DN."""

    def __init__(self, enabled: dict[str, list[str]], classes: dict[str, str]) -> None:
        self.enabled, self.classes = enabled, classes

    def read(self, dn: str, attributes) -> Entry | None:
        if dn.startswith("<SID="):
            return Entry(DA, {"objectguid": [UUID(GUID).bytes_le]})
        kind = self.classes.get(dn)
        return Entry(dn, {"objectclass": [kind.encode()]}) if kind else None

    def search(self, base: str, query: str, attributes):
        for group, users in self.enabled.items():
            if f"={group})" in query:
                yield from (Entry(u, {}) for u in users)


DA = "CN=Domain Admins,CN=Users,DC=corp,DC=test"


@pytest.mark.parametrize(("enabled", "removing", "refused"), [
    ({DA: ["CN=a", "CN=b"]}, ["CN=a"], False),
    ({DA: ["CN=a"]}, ["CN=a"], True),
    ({DA: ["CN=a", "CN=b"], "CN=Tier0": ["CN=a", "CN=b"]}, ["CN=Tier0"], True),
    ({DA: ["CN=a", "CN=b"], "CN=Tier0": ["CN=a"]}, ["CN=Tier0"], False),
])  # fmt: skip
def test_last_enabled_domain_admin_guard(enabled: dict, removing: list[str], refused: bool) -> None:
    from agent.directory.apply import Guards, _last_admin

    directory = _Directory(enabled, {"CN=a": "user", "CN=b": "user", "CN=Tier0": "group"})
    guards = Guards("x", DOMAIN_SID, DOMAIN_DN)
    verdict, lost = _last_admin(directory, guards, removing)
    assert (verdict is not None) is refused
    assert guards.da_guid == GUID and lost <= guards.da_enabled


def _filetime(moment: datetime) -> str:
    return str(int((moment - datetime(1601, 1, 1, tzinfo=UTC)).total_seconds() * 10_000_000))


@pytest.mark.parametrize(
    ("journal_hours_ago", "pwd_changed_hours_ago", "force", "refused"),
    [
        (None, None, False, False),  # never reset: the first reset goes
        (1, None, False, True),  # keyturn reset it an hour ago
        (1, None, True, False),  # ... unless forced
        (10.1, None, False, False),  # 10 h 6 min > 10 h + 5 min skew
        (10.05, None, False, True),  # 10 h 3 min: still inside the skew
        (None, 2, False, True),  # someone else reset it since the plan (pwdLastSet moved)
        (20, 2, False, True),  # the newer of the two counts
    ],
)
def test_krbtgt_second_reset_waits_for_ticket_lifetime_plus_skew(
    journal_hours_ago: float | None, pwd_changed_hours_ago: float | None, force: bool,
    refused: bool,
) -> None:  # fmt: skip
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    planned = _filetime(now - timedelta(days=400))
    current = (
        planned
        if pwd_changed_hours_ago is None
        else _filetime(now - timedelta(hours=pwd_changed_hours_ago))
    )
    last = None if journal_hours_ago is None else now - timedelta(hours=journal_hours_ago)
    reason = krbtgt.staging_refusal(KrbtgtState(last, force), [planned], current, now)
    assert (reason is not None) == refused
    if refused:
        assert "waits until" in reason and "10 h + clock skew 5 min" in reason
        assert "--force" in reason


def test_unicode_pwd_is_quoted_utf16() -> None:
    assert krbtgt.unicode_pwd(Secret("Ab1")) == '"Ab1"'.encode("utf-16-le")
