"""The lab's Samba AD DC: provisioned, populated from lab.ad_fixture and run in a namespace of
our own; every check talks LDAP to the real DC from inside that namespace.

The fixture table's expected answers are checked against the directory with plain LDAP filters
(bitwise UAC matches, in-chain membership, timestamps), independently of keyturn's audit code.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import ssl
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ldap3
import pytest
from ldap3.core.exceptions import LDAPStrongerAuthRequiredResult

from lab import ad_expected, ad_fixture, netns, samba_dc

pytestmark = pytest.mark.lab

# Outside the lab's 198.18.0.0/24 and 198.18.1.0/24; each test namespace has its own copy.
DC_IP = "198.18.250.10"
COLD_IP = "198.18.250.12"
IN_CHAIN = "1.2.840.113556.1.4.1941"
BIT_AND = "1.2.840.113556.1.4.803"


@dataclass
class Dc:
    ns: str
    info: samba_dc.DcInfo
    expected: dict
    proc: object


def _namespace_with(ip: str) -> str:
    name = f"kt-sdc-{secrets.token_hex(3)}"
    netns.create(name)
    netns.add_veth(name, "dc0", "dc0peer", name, address=f"{ip}/24")
    return name


def _workdir() -> Path:
    # Short on purpose: Samba's unix sockets live below it (108-byte path limit).
    return Path(tempfile.mkdtemp(prefix="kt-sdc-", dir="/tmp"))


@pytest.fixture(scope="module")
def dc() -> Iterator[Dc]:
    ns = _namespace_with(DC_IP)
    workdir = _workdir()
    proc = None
    try:
        info = samba_dc.provision(workdir / "dc", ip=DC_IP, admin_password=samba_dc._password())
        expected = samba_dc.populate(info, size="small")
        proc = samba_dc.start(info, ns)
        yield Dc(ns, info, expected, proc)
    finally:
        if proc is not None:
            samba_dc.stop(proc)
        netns.delete(ns)
        shutil.rmtree(workdir, ignore_errors=True)


def _tls(info: samba_dc.DcInfo) -> ldap3.Tls:
    return ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(info.ca_file))


def _ldaps(dc: Dc) -> ldap3.Connection:
    with netns.inside(dc.ns):
        server = ldap3.Server(dc.info.ip, port=636, use_ssl=True, tls=_tls(dc.info))
        return ldap3.Connection(
            server,
            user=dc.info.admin_bind_name,
            password=dc.info.admin_password.reveal(),
            auto_bind=True,
            raise_exceptions=True,
        )


@pytest.fixture(scope="module")
def conn(dc: Dc) -> Iterator[ldap3.Connection]:
    connection = _ldaps(dc)
    yield connection
    connection.unbind()


def _sams(conn: ldap3.Connection, base: str, ldap_filter: str) -> set[str]:
    entries = conn.extend.standard.paged_search(
        base, ldap_filter, attributes=["sAMAccountName"], paged_size=1000, generator=False
    )
    # Subtree searches from the root also yield continuation references: keep entries only.
    return {
        str(e["attributes"]["sAMAccountName"]) for e in entries if e["type"] == "searchResEntry"
    }


def _filetime(days_ago: float) -> int:
    when = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    return int(when.timestamp() * 10_000_000) + 116_444_736_000_000_000


def test_ldaps_certificate_validates_by_ip_and_only_by_its_names(dc: Dc) -> None:
    context = ssl.create_default_context(cafile=str(dc.info.ca_file))
    with netns.inside(dc.ns):
        import socket

        good = socket.create_connection((DC_IP, 636), timeout=5)
        bad = socket.create_connection((DC_IP, 636), timeout=5)
    with context.wrap_socket(good, server_hostname=DC_IP) as tls:
        assert tls.version() is not None
    with (
        pytest.raises(ssl.SSLCertVerificationError),
        context.wrap_socket(bad, server_hostname="dc9.elsewhere.test"),
    ):
        pass


def test_admin_binds_over_ldaps(conn: ldap3.Connection, dc: Dc) -> None:
    # Samba does not implement the whoami extended operation; read the RID-500 entry instead.
    conn.search(
        dc.info.base_dn,
        f"(objectSid={dc.expected['domain']['sid']}-500)",
        attributes=["sAMAccountName"],
    )
    assert conn.bound and conn.server.ssl
    assert [str(e.sAMAccountName) for e in conn.entries] == [dc.info.admin_user]


def test_starttls_works_and_plain_simple_bind_is_refused(dc: Dc) -> None:
    password = dc.info.admin_password.reveal()
    with netns.inside(dc.ns):
        tls_conn = ldap3.Connection(
            ldap3.Server(DC_IP, port=389, tls=_tls(dc.info)),
            user=dc.info.admin_bind_name,
            password=password,
        )
        tls_conn.open()
        plain = ldap3.Connection(
            ldap3.Server(DC_IP, port=389),
            user=dc.info.admin_bind_name,
            password=password,
            raise_exceptions=True,
        )
        plain.open()
    assert tls_conn.start_tls() and tls_conn.bind(), tls_conn.result
    tls_conn.unbind()
    with pytest.raises(LDAPStrongerAuthRequiredResult):
        plain.bind()
    plain.unbind()


def _group_sid(dc: Dc, group: str) -> str:
    rid_or_sid = dc.expected["privileged"][group]["rid_or_sid"]
    sid = dc.expected["domain"]["sid"]
    return f"{sid}-{rid_or_sid}" if isinstance(rid_or_sid, int) else rid_or_sid


def test_privileged_paths_match_the_member_attributes(conn: ldap3.Connection, dc: Dc) -> None:
    """Walk the DC's member attributes breadth first: same members, same shortest paths."""
    entries = conn.extend.standard.paged_search(
        dc.info.base_dn,
        "(objectClass=group)",
        attributes=["sAMAccountName", "member"],
        paged_size=500,
        generator=False,
    )
    groups = {e["dn"].lower(): e["attributes"] for e in entries if e["type"] == "searchResEntry"}
    conn.search(
        dc.info.base_dn,
        "(|(objectClass=user)(objectClass=foreignSecurityPrincipal))",
        attributes=["sAMAccountName", "cn"],
    )
    names = {e.entry_dn.lower(): str(e.sAMAccountName or e.cn) for e in conn.entries}
    names.update({dn: str(g["sAMAccountName"]) for dn, g in groups.items()})
    for group, want in dc.expected["privileged"].items():
        conn.search(dc.info.base_dn, f"(objectSid={_group_sid(dc, group)})", attributes=[])
        found: dict[str, list[str]] = {}
        queue = [(conn.entries[0].entry_dn.lower(), [group])]
        while queue:
            dn, path = queue.pop(0)
            for member in groups[dn]["member"]:
                name = names[member.lower()]
                if name not in found and name != group:
                    found[name] = path
                    if member.lower() in groups:
                        queue.append((member.lower(), [*path, name]))
        assert found == {
            sam: m["path"] for sam, m in want["members"].items() if not m["via_primary_group"]
        }, group


def test_in_chain_rule_sees_the_nested_admins(conn: ldap3.Connection, dc: Dc) -> None:
    """The DC answers LDAP_MATCHING_RULE_IN_CHAIN (scoped to one OU: it is slow over 2000 users)."""
    conn.search(dc.info.base_dn, f"(objectSid={_group_sid(dc, 'Domain Admins')})", attributes=[])
    nested = _sams(
        conn, f"OU=Admins,{dc.info.base_dn}", f"(memberOf:{IN_CHAIN}:={conn.entries[0].entry_dn})"
    )
    # adm.secure and adm.sensitive: issue 16's protected admins.
    assert nested == {
        "alice.martin",
        "adm.tnguyen",
        "adm.jsmith",
        "adm.pbrown",
        "adm.sking",
        "adm.secure",
        "adm.sensitive",
    }


def test_primary_group_member_is_not_in_the_member_attribute(
    conn: ldap3.Connection, dc: Dc
) -> None:
    via_primary = {
        sam
        for sam, m in dc.expected["privileged"]["Domain Admins"]["members"].items()
        if m["via_primary_group"]
    }
    assert via_primary == {"adm.rlopez"}
    assert (
        _sams(conn, dc.info.base_dn, "(&(objectCategory=person)(primaryGroupID=512))")
        == via_primary
    )
    conn.search(dc.info.base_dn, "(sAMAccountName=Domain Admins)", attributes=["member"])
    assert not any("adm.rlopez" in str(m) for m in conn.entries[0].member.values)


def test_foreign_member_of_administrators(conn: ldap3.Connection, dc: Dc) -> None:
    foreign = [
        sid
        for sid, m in dc.expected["privileged"]["Administrators"]["members"].items()
        if m["kind"] == "foreign"
    ]
    assert foreign == [ad_fixture.FOREIGN_ADMIN_SID]
    conn.search(
        f"CN=ForeignSecurityPrincipals,{dc.info.base_dn}",
        f"(&(objectClass=foreignSecurityPrincipal)(cn={foreign[0]}))",
        attributes=["memberOf"],
    )
    assert [str(v).split(",")[0] for v in conn.entries[0].memberOf.values] == ["CN=Administrators"]


def test_dialin_and_ras_servers(conn: ldap3.Connection, dc: Dc) -> None:
    base = dc.info.base_dn
    assert sorted(_sams(conn, base, "(msNPAllowDialin=TRUE)")) == dc.expected["dialin_allowed"]
    assert sorted(_sams(conn, base, "(msNPAllowDialin=FALSE)")) == dc.expected["dialin_denied"]
    assert dc.expected["dialin_allowed"] and dc.expected["dialin_denied"]
    conn.search(base, "(sAMAccountName=RAS and IAS Servers)", attributes=["member"])
    members = [str(m).split(",")[0][3:] + "$" for m in conn.entries[0].member.values]
    assert members == dc.expected["ras_and_ias_servers"] == ["NPS01$"]


def test_all_staff_has_2000_members(conn: ldap3.Connection, dc: Dc) -> None:
    conn.search(dc.info.base_dn, f"(sAMAccountName={ad_fixture.BULK_GROUP})", attributes=["member"])
    assert len(conn.entries[0].member.values) == 2000
    assert dc.expected["groups"][ad_fixture.BULK_GROUP]["member_count"] == 2000
    users = _sams(conn, dc.info.base_dn, "(&(objectCategory=person)(objectClass=user))")
    assert len(users) == dc.expected["user_count"]


def test_service_accounts_and_computers(conn: ldap3.Connection, dc: Dc) -> None:
    base = dc.info.base_dn
    conn.search(
        base,
        "(&(servicePrincipalName=*)(!(sAMAccountName=krbtgt))"
        "(|(objectCategory=person)(objectClass=msDS-GroupManagedServiceAccount)))",
        attributes=["sAMAccountName", "servicePrincipalName"],
    )
    found = {str(e.sAMAccountName): sorted(e.servicePrincipalName.values) for e in conn.entries}
    assert found == {s["sam"]: sorted(s["spns"]) for s in dc.expected["service_accounts"]}
    assert [s["sam"] for s in dc.expected["service_accounts"] if s["privileged"]] == ["svc_sql"]
    servers = _sams(conn, base, "(&(objectClass=computer)(operatingSystem=*Server*))")
    workstations = _sams(conn, base, "(&(objectClass=computer)(operatingSystem=Windows 1*))")
    assert (
        (len(servers), len(workstations))
        == (dc.expected["computers"]["servers"], dc.expected["computers"]["workstations"])
        == (4, 5)
    )  # APP01$ (issue 16's protocol-transition server) is the fourth
    assert (
        _sams(conn, f"OU=Domain Controllers,{base}", "(objectClass=computer)")
        == set(dc.expected["computers"]["domain_controllers"])
        == {"DC1$"}
    )


def _uac(flag: int) -> str:
    return f"(userAccountControl:{BIT_AND}:={flag})"


def test_findings_agree_with_the_directory(conn: ldap3.Connection, dc: Dc) -> None:
    """Each rule's expected accounts, recomputed from raw attributes with LDAP filters."""
    base, findings, days = dc.info.base_dn, dc.expected["findings"], dc.expected["thresholds"]
    enabled = f"(!{_uac(ad_fixture.ACCOUNTDISABLE)})"
    privileged = {
        sam
        for g in dc.expected["privileged"].values()
        for sam, m in g["members"].items()
        if m["kind"] in ("user", "computer")
    }

    def sams(ldap_filter: str) -> list[str]:
        return sorted(_sams(conn, base, ldap_filter))

    assert (
        findings["passwd_notreqd"]
        == sams(f"(&{enabled}{_uac(ad_fixture.PASSWD_NOTREQD)})")
        == ["Guest", "temp.contractor"]
    )
    assert findings["asrep_roastable"] == sams(f"(&{enabled}{_uac(ad_fixture.DONT_REQ_PREAUTH)})")
    assert findings["reversible_encryption"] == sams(
        f"(&{enabled}{_uac(ad_fixture.ENCRYPTED_TEXT_PWD_ALLOWED)})"
    )
    assert findings["sid_history"] == sams("(sIDHistory=*)") == ["mark.evans"]
    assert (
        findings["unconstrained_delegation"]
        == sams(
            f"(&{enabled}{_uac(ad_fixture.TRUSTED_FOR_DELEGATION)}"
            f"(!{_uac(ad_fixture.SERVER_TRUST_ACCOUNT)}))"
        )
        == ["SQL01$"]
    )
    # Samba marks its builtin groups adminCount=1 too; the rule is about accounts.
    admin_count = sams("(&(objectClass=user)(adminCount=1)(!(sAMAccountName=krbtgt)))")
    assert findings["orphaned_admincount"] == sorted(set(admin_count) - privileged) == ["greg.hall"]
    sid = dc.expected["domain"]["sid"]
    assert findings["guest_enabled"] == sams(f"(&(objectSid={sid}-501){enabled})")
    assert findings["stale_account"] == sams(
        f"(&{enabled}(lastLogonTimestamp<={_filetime(days['stale_days'])}))"
    )
    recent = dt.datetime.now(dt.UTC) - dt.timedelta(days=days["recent_days"])
    created = sams(f"(whenCreated>={recent:%Y%m%d%H%M%S}.0Z)")
    assert (
        findings["privileged_recently_created"]
        == sorted(set(created) & privileged)
        == ["adm.sking"]
    )
    never = sams(f"(&(objectCategory=person){enabled}(!(lastLogonTimestamp=*)))")
    assert (
        findings["privileged_never_logged_on"] == sorted(set(never) & privileged) == ["adm.tnguyen"]
    )
    assert (
        findings["privileged_disabled"]
        == sorted(set(sams(_uac(ad_fixture.ACCOUNTDISABLE))) & privileged)
        == ["adm.pbrown"]
    )
    never_expires = sams(f"(&{enabled}{_uac(ad_fixture.DONT_EXPIRE_PASSWORD)})")
    assert findings["privileged_password_never_expires"] == sorted(set(never_expires) & privileged)
    roastable = sams(
        f"(&(objectCategory=person){enabled}(servicePrincipalName=*)(!(sAMAccountName=krbtgt)))"
    )
    assert findings["kerberoastable"] == roastable == ["svc_sharepoint", "svc_sql"]
    assert findings["kerberoastable_privileged"] == ["svc_sql"]
    assert findings["krbtgt_password_age"] == sams(
        f"(&(sAMAccountName=krbtgt)(pwdLastSet<={_filetime(days['krbtgt_max_age_days'])}))"
    )
    assert (
        findings["builtin_admin_not_renamed"] == sams(f"(objectSid={sid}-500)") == ["Administrator"]
    )
    assert set(ad_expected.RULES) == set(findings) and all(findings.values())


def test_clean_accounts_are_clean(dc: Dc) -> None:
    flagged = {sam for names in dc.expected["findings"].values() for sam in names}
    clean = set(dc.expected["clean_accounts"])
    assert {"anna.becker", "paul.richter", "emma.schulz", "laura.jones"} <= clean
    assert not clean & flagged
    assert len(clean) > 2000  # the All-Staff filler is clean too


def test_no_secret_reaches_the_workdir(dc: Dc) -> None:
    """Administrator's password (applied through the helper's stdin) is nowhere on disk."""
    password = dc.info.admin_password.reveal()
    needles = (password.encode(), password.encode("utf-16-le"))
    for path in dc.info.workdir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(n in data for n in needles), path
    leaked_in_repr = password in repr(dc.info)
    assert not leaked_in_repr


def _samba_pids(smb_conf: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(smb_conf).encode() in (proc / "cmdline").read_bytes():
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


def test_cold_provision_then_restore_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A private cache forces the cold path; the snapshot then restores into another
    directory, takes a new Administrator password and serves LDAPS."""
    monkeypatch.setattr(samba_dc, "CACHE_DIR", tmp_path / "cache")
    cold_dir, warm_dir = _workdir(), _workdir()
    ns = _namespace_with(COLD_IP)
    proc = None
    try:
        started = time.monotonic()
        cold = samba_dc.provision(cold_dir / "dc", ip=COLD_IP, admin_password=samba_dc._password())
        provision_s = time.monotonic() - started
        cold_expected = samba_dc.populate(cold)
        cold_s = time.monotonic() - started

        started = time.monotonic()
        warm = samba_dc.provision(
            warm_dir / "dc", ip=COLD_IP, admin_password=samba_dc._password(), allow_plain_ldap=True
        )
        warm_expected = samba_dc.populate(warm)
        warm_s = time.monotonic() - started
        print(
            f"\ncold provision {provision_s:.1f} s + populate(small) "
            f"{cold_s - provision_s:.1f} s; snapshot restore of both {warm_s:.2f} s"
        )
        assert warm_expected == cold_expected
        assert warm_s < cold_s / 3
        assert str(cold_dir) not in warm.smb_conf.read_text()

        started = time.monotonic()
        proc = samba_dc.start(warm, ns)
        print(f"start until LDAPS answers {time.monotonic() - started:.1f} s")
        connection = _ldaps(Dc(ns, warm, warm_expected, proc))
        assert connection.bound
        connection.unbind()
        with netns.inside(ns):
            plain = ldap3.Connection(
                ldap3.Server(COLD_IP, port=389),
                user=warm.admin_bind_name,
                password=warm.admin_password.reveal(),
            )
            assert plain.bind(), "allow_plain_ldap=True must permit a simple bind on 389"
        plain.unbind()
        pids = _samba_pids(warm.smb_conf)
        assert len(pids) > 1  # samba and its service children, all ended by stop()
    finally:
        if proc is not None:
            samba_dc.stop(proc)
        netns.delete(ns)
        for path in (cold_dir, warm_dir):
            shutil.rmtree(path, ignore_errors=True)
    assert proc.returncode is not None
    assert _samba_pids(warm.smb_conf) == []
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)
