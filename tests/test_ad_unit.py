"""Unit tests of the AD audit's pure logic and of paging/ranging against ldap3's offline mock.

The mock is made to behave like a Windows DC (MaxPageSize 1000: a non-paged search stops at
1000 entries with sizeLimitExceeded; MaxValRange 1500: ``member`` comes back in
``member;range=a-b`` chunks), which Samba does not enforce, so these are the tests that prove
keyturn copes with both limits. The real-DC tests are in test_ad_lab.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import ldap3
import pytest

from agent.core.errors import UsageError
from agent.directory import rules
from agent.directory.collectors import accounts
from agent.directory.connection import (
    MEMBER_RANGE,
    PAGED_RESULTS_OID,
    Credentials,
    DirectoryConnection,
    Endpoint,
    TlsPolicy,
)
from agent.directory.flags import Uac, decode_sid, encode_sid, filetime, sid_filter_value
from agent.directory.membership import Graph, effective_members
from agent.directory.model import DirObject

BASE = "DC=corp,DC=example"
DOMAIN_SID = "S-1-5-21-1111111111-2222222222-3333333333"
MAX_PAGE = 1000
MAX_VALUES = 1500
NOW = datetime(2026, 11, 1, tzinfo=UTC)


# --- a Windows-like offline directory --------------------------------------------------------


def windows_like(conn: ldap3.Connection) -> None:
    """Give ldap3's mock a Windows DC's MaxPageSize and MaxValRange."""
    strategy = conn.strategy
    execute, search = strategy._execute_search, strategy.mock_search

    def ranged_execute(request):
        asked = [a for a in request["attributes"] if a.lower().startswith("member;range=")]
        plain = dict(request, attributes=[
            "member" if a.lower().startswith("member;range=") else a
            for a in request["attributes"]])  # fmt: skip
        responses, result = execute(plain)
        for response in responses:
            for attribute in response["attributes"]:
                if attribute["type"].lower() == "member":
                    _cut(attribute, asked[0] if asked else None)
        return responses, result

    def limited_search(request_message, controls):
        responses, result = search(request_message, controls)
        paged = PAGED_RESULTS_OID in str(result.get("controls"))
        if not paged and len(responses) > MAX_PAGE:
            result = dict(result, resultCode=4, diagnosticMessage="size limit exceeded")
            responses = responses[:MAX_PAGE]
        return responses, result

    strategy._execute_search = ranged_execute
    strategy.mock_search = limited_search


def _cut(attribute: dict, asked: str | None) -> None:
    values = attribute["vals"]
    start = int(asked.split("=")[1].split("-")[0]) if asked else 0
    if asked is None and len(values) <= MAX_VALUES:
        return
    last = min(start + MAX_VALUES, len(values)) - 1
    end = "*" if last >= len(values) - 1 else str(last)
    attribute["type"] = f"member;range={start}-{end}"
    attribute["vals"] = values[start : last + 1]


def mock_connection(entries: dict[str, dict]) -> ldap3.Connection:
    server = ldap3.Server("mock-dc", get_info=ldap3.NONE)
    conn = ldap3.Connection(
        server, user="CN=audit,CN=Users," + BASE, password="mock-password",
        client_strategy=ldap3.MOCK_SYNC, return_empty_attributes=False, auto_range=False,
    )  # fmt: skip
    conn.strategy.add_entry("CN=audit,CN=Users," + BASE, {"userPassword": "mock-password"})
    for dn, attributes in entries.items():
        conn.strategy.add_entry(dn, attributes)
    windows_like(conn)
    conn.bind()
    return conn


def user_entry(sam: str, rid: int, uac: int = 0x200, **extra) -> dict:
    return {
        "objectClass": ["top", "person", "user"],
        "sAMAccountName": sam,
        "objectSid": encode_sid(f"{DOMAIN_SID}-{rid}"),
        "userAccountControl": str(uac),
        "sAMAccountType": "805306368",
        **extra,
    }


@pytest.fixture
def big_domain() -> DirectoryConnection:
    entries = {f"CN=user{i},OU=Staff,{BASE}": user_entry(f"user{i}", 2000 + i) for i in range(2500)}
    members = [f"CN=user{i},OU=Staff,{BASE}" for i in range(3200)]
    entries[f"CN=Everyone-Big,OU=Groups,{BASE}"] = {
        "objectClass": ["top", "group"],
        "sAMAccountName": "Everyone-Big",
        "objectSid": encode_sid(f"{DOMAIN_SID}-1500"),
        "member": members[:2500] + [f"CN=gone{i},OU=Staff,{BASE}" for i in range(700)],
    }
    return DirectoryConnection(mock_connection(entries))


def test_the_mock_really_enforces_the_windows_limits(big_domain: DirectoryConnection) -> None:
    raw = big_domain._conn
    raw.search(BASE, "(sAMAccountType=805306368)", attributes=["sAMAccountName"])
    assert raw.result["result"] == 4 and len(raw.response) == MAX_PAGE
    raw.search(
        f"CN=Everyone-Big,OU=Groups,{BASE}", "(objectClass=*)", ldap3.BASE, attributes=["member"]
    )
    assert list(raw.response[0]["raw_attributes"]) == ["member;range=0-1499"]


def test_paged_search_returns_every_entry_page_by_page(big_domain: DirectoryConnection) -> None:
    found = list(big_domain.search(BASE, "(sAMAccountType=805306368)", ["sAMAccountName"]))
    assert len(found) == 2500
    assert len({e.text("sAMAccountName") for e in found}) == 2500
    assert big_domain.round_trips == 3  # pages of 1000, 1000, 500


def test_page_size_above_max_page_size_is_refused() -> None:
    with pytest.raises(ValueError):
        DirectoryConnection(object(), page_size=1001)


def test_ranged_member_retrieval_collects_every_chunk(big_domain: DirectoryConnection) -> None:
    entry = big_domain.read(f"CN=Everyone-Big,OU=Groups,{BASE}", [MEMBER_RANGE])
    assert "member;range=0-1499" in entry.raw
    members = big_domain.members(entry)
    assert len(members) == len(set(members)) == 3200
    assert big_domain.round_trips == 3  # 0-1499, 1500-2999, 3000-*


def test_plain_member_request_is_ranged_too(big_domain: DirectoryConnection) -> None:
    entry = big_domain.read(f"CN=Everyone-Big,OU=Groups,{BASE}", ["member"])
    assert len(big_domain.members(entry)) == 3200


def test_accounts_collector_decodes_objects(big_domain: DirectoryConnection) -> None:
    found = list(accounts(big_domain, BASE))
    assert len(found) == 2500
    first = min(found, key=lambda o: o.rid)
    assert (first.sam, first.sid, first.kind, first.enabled) == (
        "user0",
        f"{DOMAIN_SID}-2000",
        "user",
        True,
    )


# --- decoding -------------------------------------------------------------------------------


def test_sid_decoding_matches_the_binary_layout() -> None:
    # S-1-5-32-544 (BUILTIN\\Administrators) as AD stores it.
    raw = bytes.fromhex("01020000000000052000000020020000")
    assert decode_sid(raw) == "S-1-5-32-544"
    assert encode_sid("S-1-5-32-544") == raw
    assert decode_sid(encode_sid(f"{DOMAIN_SID}-512")) == f"{DOMAIN_SID}-512"
    assert sid_filter_value("S-1-5-32-544").startswith("\\01\\02\\00")
    with pytest.raises(ValueError):
        decode_sid(raw[:-1])


def test_filetime_never_values() -> None:
    assert filetime("0") is None
    assert filetime(str(0x7FFFFFFFFFFFFFFF)) is None
    assert filetime("116444736000000000") == datetime(1970, 1, 1, tzinfo=UTC)


# --- effective membership and paths ---------------------------------------------------------


def _obj(
    sam: str,
    rid: int,
    kind: str = "user",
    members: tuple[str, ...] = (),
    primary: int | None = None,
    uac: Uac = Uac.NORMAL_ACCOUNT,
    sid: str | None = None,
    **extra,
) -> DirObject:
    return DirObject(
        dn=f"CN={sam},{BASE}",
        sid=sid or f"{DOMAIN_SID}-{rid}",
        sam=sam,
        kind=kind,
        uac=uac if kind != "group" else Uac(0),
        members=[f"CN={m},{BASE}" for m in members],
        primary_group_id=primary,
        **extra,
    )


def test_paths_nesting_primary_group_and_foreign_members() -> None:
    foreign_sid = "S-1-5-21-9-9-9-1112"
    objects = [
        _obj("Domain Admins", 512, "group", ("Tier0", "jsmith")),
        _obj("Tier0", 1101, "group", ("IT-Admins",)),
        _obj("IT-Admins", 1102, "group", ("alice", "Tier0", "S-1-5-21-9-9-9-1112")),  # cycle
        _obj("alice", 1103),
        _obj("jsmith", 1104, uac=Uac.NORMAL_ACCOUNT | Uac.ACCOUNTDISABLE),
        _obj("rlopez", 1105, primary=512),  # in Domain Admins by primary group only
        _obj("nested-primary", 1106, primary=1102),  # primary group is a nested group
        _obj("S-1-5-21-9-9-9-1112", 0, "foreign", sid=foreign_sid),
        _obj("outsider", 1107, primary=513),
    ]
    graph = Graph.build(objects, DOMAIN_SID)
    members, unresolved = effective_members(objects[0], graph)
    got = {
        m.obj.sam: (list(m.path), m.via_primary_group, m.obj.public_kind, m.obj.enabled)
        for m in members
    }
    assert got == {
        "Tier0": (["Domain Admins"], False, "group", True),
        "jsmith": (["Domain Admins"], False, "user", False),
        "rlopez": (["Domain Admins"], True, "user", True),
        "IT-Admins": (["Domain Admins", "Tier0"], False, "group", True),
        "alice": (["Domain Admins", "Tier0", "IT-Admins"], False, "user", True),
        "nested-primary": (["Domain Admins", "Tier0", "IT-Admins"], True, "user", True),
        foreign_sid: (["Domain Admins", "Tier0", "IT-Admins"], False, "foreign", True),
    }
    assert unresolved == []


def test_shortest_path_wins_and_unreadable_members_are_reported() -> None:
    objects = [
        _obj("Administrators", 544, "group", ("Domain Admins", "bob", "ghost"), sid="S-1-5-32-544"),
        _obj("Domain Admins", 512, "group", ("bob",)),
        _obj("bob", 1200, primary=512),
    ]
    members, unresolved = effective_members(objects[0], Graph.build(objects, DOMAIN_SID))
    bob = next(m for m in members if m.obj.sam == "bob")
    assert (list(bob.path), bob.via_primary_group) == (["Administrators"], False)
    assert unresolved == [f"CN=ghost,{BASE}"]


def test_builtin_groups_have_no_primary_group_members() -> None:
    # RID 544 of S-1-5-32 is not RID 544 of the domain: a user whose primaryGroupID is 544
    # must not be reported as a member of BUILTIN\\Administrators.
    objects = [
        _obj("Administrators", 544, "group", sid="S-1-5-32-544"),
        _obj("odd", 1300, primary=544),
    ]
    members, _ = effective_members(objects[0], Graph.build(objects, DOMAIN_SID))
    assert members == []


# --- rules ----------------------------------------------------------------------------------


def _ctx(privileged: tuple[DirObject, ...] = ()) -> rules.Context:
    return rules.Context(
        now=NOW,
        privileged=frozenset(o.sid for o in privileged),
        stale_days=90,
        recent_days=30,
        krbtgt_max_age_days=180,
    )


def _days(n: int) -> datetime:
    return NOW - timedelta(days=n)


RECENT = {"when_created": _days(900), "last_logon": _days(3), "pwd_last_set": _days(30)}

# rule id -> (an account it must flag, privileged?)
FIRING = {
    "orphaned_admincount": (_obj("greg", 1400, admin_count=True, **RECENT), False),
    "privileged_disabled": (
        _obj("pbrown", 1401, uac=Uac.NORMAL_ACCOUNT | Uac.ACCOUNTDISABLE, **RECENT),
        True,
    ),
    "privileged_password_never_expires": (
        _obj("jsmith", 1402, uac=Uac.NORMAL_ACCOUNT | Uac.DONT_EXPIRE_PASSWORD, **RECENT),
        True,
    ),
    "passwd_notreqd": (
        _obj("temp", 1403, uac=Uac.NORMAL_ACCOUNT | Uac.PASSWD_NOTREQD, **RECENT),
        False,
    ),
    "asrep_roastable": (
        _obj("scanner", 1404, uac=Uac.NORMAL_ACCOUNT | Uac.DONT_REQ_PREAUTH, **RECENT),
        False,
    ),
    "reversible_encryption": (
        _obj("vpn", 1405, uac=Uac.NORMAL_ACCOUNT | Uac.ENCRYPTED_TEXT_PWD_ALLOWED, **RECENT),
        False,
    ),
    "sid_history": (_obj("mark", 1406, sid_history=["S-1-5-21-9-9-9-1109"], **RECENT), False),
    "unconstrained_delegation": (
        _obj(
            "SQL01$",
            1407,
            "computer",
            uac=Uac.WORKSTATION_TRUST_ACCOUNT | Uac.TRUSTED_FOR_DELEGATION,
            **RECENT,
        ),
        False,
    ),
    "privileged_recently_created": (
        _obj("sking", 1408, when_created=_days(5), last_logon=_days(1), pwd_last_set=_days(5)),
        True,
    ),
    "privileged_never_logged_on": (
        _obj("tnguyen", 1409, when_created=_days(900), pwd_last_set=_days(30)),
        True,
    ),
    "stale_account": (
        _obj("nina", 1410, when_created=_days(900), last_logon=_days(240), pwd_last_set=_days(30)),
        False,
    ),
    "builtin_admin_not_renamed": (_obj("Administrator", 500, **RECENT), True),
    "guest_enabled": (_obj("Guest", 501, **RECENT), False),
    "kerberoastable": (_obj("svc_web", 1411, spns=["HTTP/web"], **RECENT), False),
    "kerberoastable_privileged": (_obj("svc_sql", 1412, spns=["MSSQLSvc/sql"], **RECENT), True),
    "krbtgt_password_age": (
        _obj(
            "krbtgt",
            502,
            uac=Uac.NORMAL_ACCOUNT | Uac.ACCOUNTDISABLE,
            when_created=_days(1500),
            pwd_last_set=_days(1400),
        ),
        False,
    ),
}


# Rules of issue 16: (case that fires, a clean account it must skip, privileged SIDs).
_PRIV_CLEAN = _obj("secure", 1520, uac=Uac.NORMAL_ACCOUNT | Uac.NOT_DELEGATED, **RECENT)
_PT = _obj(
    "APP01$",
    1521,
    "computer",
    delegate_to=["cifs/fs01"],
    uac=Uac.WORKSTATION_TRUST_ACCOUNT | Uac.TRUSTED_TO_AUTH_FOR_DELEGATION,
    **RECENT,
)
_RBCD_DC = _obj(
    "DC1$",
    1000,
    "computer",
    rbcd_sids=[f"{DOMAIN_SID}-1146"],
    uac=Uac.SERVER_TRUST_ACCOUNT,
    **RECENT,
)
_RBCD_SERVER = _obj(
    "FS01$",
    1522,
    "computer",
    rbcd_sids=[f"{DOMAIN_SID}-1146"],
    uac=Uac.WORKSTATION_TRUST_ACCOUNT,
    **RECENT,
)
_DES = _obj("legacy.des", 1523, uac=Uac.NORMAL_ACCOUNT | Uac.USE_DES_KEY_ONLY, **RECENT)
_NO_LAPS = _obj("WS-1$", 1524, "computer", uac=Uac.WORKSTATION_TRUST_ACCOUNT, **RECENT)
_LAPS = _obj("WS-2$", 1525, "computer", uac=Uac.WORKSTATION_TRUST_ACCOUNT, has_laps=True, **RECENT)
_PROTECTED = _obj("adm.p", 1526, **RECENT)
_UNPROTECTED = _obj("adm.u", 1527, **RECENT)
NEW_FIRING = {
    "constrained_delegation_protocol_transition": (_PT, _obj("anna", 1500, **RECENT), ()),
    "rbcd_on_privileged": (_RBCD_DC, _RBCD_SERVER, ()),
    "privileged_not_protected": (_UNPROTECTED, _PROTECTED, (_UNPROTECTED, _PROTECTED, _PRIV_CLEAN)),
    "des_only": (_DES, _obj("anna", 1500, **RECENT), ()),
    "laps_missing": (_NO_LAPS, _LAPS, ()),
}


@pytest.mark.parametrize("rule_id", sorted(NEW_FIRING))
def test_new_account_rules_fire_on_their_case_only(rule_id: str) -> None:
    rule = next(r for r in rules.RULES if r.id == rule_id)
    account, clean, privileged = NEW_FIRING[rule_id]
    ctx = rules.Context(
        now=NOW,
        privileged=frozenset(o.sid for o in privileged),
        protected=frozenset({_PROTECTED.sid}),
        names={f"{DOMAIN_SID}-1146": "WS-IT-01$"},
    )
    assert rule.applies(account, ctx)
    assert not rule.applies(clean, ctx)
    assert not rule.applies(_PRIV_CLEAN, ctx)
    assert rule.detail(account, ctx) and rule.evidence(account, ctx)
    if rule_id == "rbcd_on_privileged":
        assert "WS-IT-01$" in rule.detail(account, ctx)


def test_every_rule_id_has_a_firing_case() -> None:
    # Issue 16 adds account rules with their own cases (NEW_FIRING, a clean case each).
    assert set(FIRING) | set(NEW_FIRING) == set(rules.RULE_IDS)
    assert all(rule.severity in rules.SEVERITIES for rule in rules.RULES)


@pytest.mark.parametrize("rule_id", sorted(FIRING))
def test_rule_fires_on_its_case_and_not_on_a_clean_account(rule_id: str) -> None:
    rule = next(r for r in rules.RULES if r.id == rule_id)
    account, privileged = FIRING[rule_id]
    clean = _obj("anna", 1500, **RECENT)
    ctx = _ctx((account, clean) if privileged else ())
    assert rule.applies(account, ctx)
    assert not rule.applies(clean, ctx)
    assert rule.detail(account, ctx)


def test_rule_exemptions() -> None:
    dc = _obj(
        "DC1$",
        1000,
        "computer",
        uac=Uac.SERVER_TRUST_ACCOUNT | Uac.TRUSTED_FOR_DELEGATION,
        **RECENT,
    )
    krbtgt = _obj("krbtgt", 502, admin_count=True, spns=["kadmin/changepw"], **RECENT)
    disabled_stale = _obj(
        "old",
        1600,
        uac=Uac.NORMAL_ACCOUNT | Uac.ACCOUNTDISABLE,
        when_created=_days(900),
        last_logon=_days(500),
    )
    gmsa = _obj("gmsa_web$", 1601, "gmsa", spns=["HTTP/web01"], **RECENT)
    found = {
        (f.rule, f.account) for f in rules.evaluate([dc, krbtgt, disabled_stale, gmsa], _ctx())
    }
    assert found == set()


# --- transport policy -----------------------------------------------------------------------


def test_simple_bind_over_plain_ldap_needs_the_opt_in() -> None:
    with pytest.raises(UsageError, match="plain LDAP"):
        DirectoryConnection.connect(
            Endpoint("198.18.0.10", 389, "ldap"), TlsPolicy(), Credentials("audit", None)
        )


def test_a_refused_bind_is_sent_once_and_reported_in_one_line() -> None:
    from agent.core.errors import OperationFailed
    from agent.core.secret import Secret
    from agent.directory.model import Entry

    conn = mock_connection({})
    conn.unbind()
    conn.password = "wrong-password-value"
    directory = DirectoryConnection(conn)
    credentials = Credentials(f"CN=audit,CN=Users,{BASE}", Secret("wrong-password-value"))
    with pytest.raises(OperationFailed, match="wrong user name or password") as failure:
        directory._bind(credentials, Endpoint("mock-dc", 636), Entry("", {}))
    assert directory.binds == 1 and not conn.bound
    assert "wrong-password-value" not in str(failure.value)
    assert "\n" not in str(failure.value)


def test_unreadable_ca_file_is_a_usage_error(tmp_path) -> None:
    from agent.core.secret import Secret

    with pytest.raises(UsageError, match="ca-file"):
        DirectoryConnection.connect(
            Endpoint("198.18.0.10", 636),
            TlsPolicy(str(tmp_path / "x")),
            Credentials("audit", Secret("pw-for-test")),
        )


# --- request building (flags over the [ad] table, password sources) --------------------------


def _no_keyring(host: str, user: str):
    raise AssertionError("the keyring must not be consulted")


def test_request_flags_override_the_config_and_env_password_skips_the_keyring() -> None:
    from agent.config import AdConfig
    from agent.directory import build_request

    settings = AdConfig(
        domain="corp.example",
        server="198.18.0.10",
        user="cfg-user",
        ca_file="/cfg/ca.pem",
        stale_days=120,
    )
    request = build_request(
        settings,
        _no_keyring,
        domain="other.example",
        user="flag-user",
        password_env="PW",
        stale_days=30,
        environ={"PW": "from-env-pw"},
    )
    assert (request.domain, request.server, request.user) == (
        "other.example",
        None,
        "flag-user",
    )  # --domain beats the configured server
    assert request.password.reveal() == "from-env-pw"
    assert (request.ca_file, request.stale_days, request.allow_plain) == ("/cfg/ca.pem", 30, False)
    assert "from-env-pw" not in repr(request)


def test_request_password_from_the_keyring_by_server_host() -> None:
    from agent.config import AdConfig
    from agent.core.secret import Secret
    from agent.directory import build_request

    asked = []

    def keyring(host: str, user: str):
        asked.append((host, user))
        return Secret("kept-in-keyring")

    request = build_request(
        AdConfig(user="audit@corp.example"), keyring, server="198.18.0.10:636", environ={}
    )
    assert asked == [("198.18.0.10", "audit@corp.example")]
    assert request.password.reveal() == "kept-in-keyring"
    with pytest.raises(UsageError, match=re.escape("no password for audit@corp.example@198.")):
        build_request(
            AdConfig(user="audit@corp.example"),
            lambda host, user: None,
            server="198.18.0.10",
            environ={},
        )


def test_request_refusals() -> None:
    from agent.config import AdConfig
    from agent.directory import build_request

    settings = AdConfig(server="198.18.0.10", user="u")
    with pytest.raises(UsageError, match="not set"):
        build_request(settings, _no_keyring, password_env="UNSET", environ={})
    with pytest.raises(UsageError, match="exclude"):
        build_request(settings, _no_keyring, kerberos=True, ntlm=True)
    with pytest.raises(UsageError, match="exclude"):
        build_request(settings, _no_keyring, ca_file="x.pem", tls_insecure=True)
    plain = build_request(
        AdConfig(server="198.18.0.10", user="u", transport="ldap"),
        _no_keyring,
        password_env="PW",
        environ={"PW": "pw-value"},
    )
    assert plain.allow_plain  # transport = "ldap" in the site config is the explicit opt-in
