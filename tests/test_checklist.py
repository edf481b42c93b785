"""The credential checklist: prefill from an inventory written with plain SQL, decisions,
rotation links, and the CLI (mark needs a reason, decisions land in the audit log)."""

from __future__ import annotations

import json
import subprocess

import pytest

from agent.core.errors import UsageError
from inventory import checklist
from inventory.store import Store
from tests.conftest import KEYTURN

DOMAIN_SID = "S-1-5-21-1111-2222-3333"
# ip, mac, class, platform, hostname, open ports
HOSTS = [
    ("198.18.0.1", "02:00:00:00:00:01", "router", "cisco_ios", "gw1", [22, 443]),
    ("198.18.0.2", "02:00:00:00:00:02", "firewall", "fortinet", "fw1", [22, 443]),
    ("198.18.0.3", "02:00:00:00:00:03", "switch", None, "sw-old", [23, 80]),
    ("198.18.0.4", "02:00:00:00:00:04", "access_point", None, "ap1", [443]),
    ("198.18.0.5", "02:00:00:00:00:05", "printer", None, "prn1", [80, 9100]),
    ("198.18.0.6", "02:00:00:00:00:06", "nas", None, "nas1", [443, 445]),
    ("198.18.0.7", "02:00:00:00:00:07", "hypervisor", None, "esx1", [443, 902]),
    ("198.18.0.8", "02:00:00:00:00:08", "voip", None, "pbx", [5060]),
    ("198.18.0.9", "02:00:00:00:00:09", "server", "linux", "files", [22, 445]),
    ("198.18.0.10", "02:00:00:00:00:0a", "workstation", None, "pc1", [135]),
    ("198.18.0.11", "02:00:00:00:00:0b", "unknown", None, None, []),
    ("198.18.0.12", "02:00:00:00:00:0c", "unknown", "juniper_junos", "edge", [22]),
]
# rid, sam, kind, enabled, spns
OBJECTS = [
    (500, "Administrator", "user", True, []),
    (1101, "alice.admin", "user", True, []),
    (1102, "bob.old", "user", False, []),
    (1103, "svc_sql", "user", True, ["MSSQLSvc/sql1.corp.example.com:1433"]),
    (1104, "sp_farm", "user", True, ["HTTP/intranet.corp.example.com"]),
    (1105, "svc_backup", "user", True, ["backup/bk1.corp.example.com"]),
    (1106, "carol", "user", True, []),
    (1109, "svc_print", "user", True, []),
    (1110, "svc_unused", "user", True, []),
    (1107, "SQL1$", "computer", True, ["MSSQLSvc/sql1.corp.example.com:1433"]),
    (1108, "gmsa_web$", "gmsa", True, ["HTTP/web"]),
]
# group, member rid
MEMBERS = [
    ("Domain Admins", 500),
    ("Domain Admins", 1101),
    ("Domain Admins", 1102),
    ("Administrators", 1105),
    ("Domain Admins", 1107),
    ("Print Operators", 1109),
]


def _sid(rid: int) -> str:
    return f"{DOMAIN_SID}-{rid}"


def write_discover_run(store: Store, hosts=HOSTS) -> int:
    run_id = store.begin_run("discover", "tester", "acme")
    with store.transaction() as db:
        for ip, mac, device_class, platform, name, ports in hosts:
            db.execute(
                "INSERT INTO hosts (mac, ip, first_run, last_run) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(mac) DO UPDATE SET last_run = excluded.last_run",
                (mac, ip, run_id, run_id),
            )
            host_id = db.execute("SELECT id FROM hosts WHERE mac = ?", (mac,)).fetchone()[0]
            db.execute(
                "INSERT INTO host_observations (run_id, host_id, ip, mac, vendor, hostnames,"
                " device_class, platform) VALUES (?, ?, ?, ?, 'Vendor', ?, ?, ?)",
                (run_id, host_id, ip, mac, json.dumps([name] if name else []), device_class,
                 platform),
            )  # fmt: skip
            for port in ports:
                db.execute(
                    "INSERT INTO services (run_id, host_id, port, proto, state, service)"
                    " VALUES (?, ?, ?, 'tcp', 'open', 'svc')",
                    (run_id, host_id, port),
                )
    store.finish_run(run_id, "ok")
    return run_id


def write_ad_run(store: Store, objects=OBJECTS, members=MEMBERS) -> int:
    run_id = store.begin_run("ad", "tester", "acme")
    enabled = {rid: on for rid, _sam, _kind, on, _spns in objects}
    with store.transaction() as db:
        for rid, sam, kind, on, spns in objects:
            db.execute(
                "INSERT INTO directory_objects (run_id, sid, sam, dn, kind, enabled, attributes)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, _sid(rid), sam, f"CN={sam},CN=Users,DC=corp,DC=example,DC=com", kind,
                 int(on), json.dumps({"spns": spns, "dialin": rid == 1106})),
            )  # fmt: skip
        for group, rid in members:
            kind = next(k for r, _s, k, _e, _p in objects if r == rid)
            db.execute(
                "INSERT INTO group_memberships (run_id, group_sid, group_name, member_sid,"
                " member_sam, member_kind, enabled, path) VALUES (?, ?, ?, ?, ?, ?, ?, '[]')",
                (run_id, _sid(512), group, _sid(rid), str(rid), kind, int(enabled[rid])),
            )
    store.finish_run(run_id, "ok")
    return run_id


def by_key(items):
    return {(i.kind, i.target, i.account): i for i in items}


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "acme.db") as store:
        yield store


def test_prefill_derives_items_from_devices_and_directory(store):
    write_discover_run(store)
    write_ad_run(store)
    result = checklist.prefill(
        store,
        credentials={"198.18.0.1": ["admin", "backup", "enable"], "198.18.0.2": ["admin"]},
        platforms=["cisco_ios", "fortinet", "juniper_junos"],
        manual_accounts=["enable"],
    )
    items = by_key(checklist.items(store))
    assert len(result.added) == len(items) and result.kept == 0
    # Rotatable network devices with a platform: automatic, one item per stored account.
    for key in (
        ("gateway_router", "198.18.0.1", "admin"),
        ("gateway_router", "198.18.0.1", "backup"),
        ("firewall", "198.18.0.2", "admin"),
    ):
        assert items[key].handling == "automatic" and items[key].state == "inherited"
    assert items[("gateway_router", "198.18.0.1", "enable")].handling == "manual"
    # Without a platform (or not a rotatable class): manual, for the web/admin interface.
    manual = {
        ("switch", "198.18.0.3"), ("wireless_access", "198.18.0.4"), ("printer", "198.18.0.5"),
        ("nas_san", "198.18.0.6"), ("virtual_machine", "198.18.0.7"), ("voip", "198.18.0.8"),
        ("other_network_device", "198.18.0.12"),
    }  # fmt: skip
    for kind, ip in manual:
        assert items[(kind, ip, "")].handling == "manual", (kind, ip)
    assert "web/admin interface" in items[("printer", "198.18.0.5", "")].note
    assert items[("printer", "198.18.0.5", "")].target_ref.startswith("host:")
    # Servers, workstations and unknown devices without a platform are not device items.
    assert not any(ip in ("198.18.0.9", "198.18.0.10", "198.18.0.11") for _k, ip, _a in items)
    domain = "corp.example.com"
    sql = items[("windows_service_account", domain, "svc_sql")]
    assert "SQL Server" in sql.note and sql.target_ref == f"sid:{_sid(1103)}"
    assert "SharePoint" in items[("windows_service_account", domain, "sp_farm")].note
    backup = items[("windows_service_account", domain, "svc_backup")]
    assert "Administrators" in backup.note  # privileged service account: one item, both reasons
    assert "with SPN" in backup.note
    assert "RID 500" in items[("workstation_admin", domain, "Administrator")].note
    assert "Domain Admins" in items[("workstation_admin", domain, "alice.admin")].note
    accounts = {account for _k, target, account in items if target == domain}
    # Disabled admins, plain users, computers and managed service accounts: no item.
    # A privileged account named like a service account is one, even without an SPN.
    printer_svc = items[("windows_service_account", domain, "svc_print")]
    assert "by its name" in printer_svc.note and "Print Operators" in printer_svc.note
    assert accounts == {
        "svc_sql", "sp_farm", "svc_backup", "svc_print", "Administrator", "alice.admin"
    }  # fmt: skip
    for kind in ("antivirus_console", "vpn_access", "web_portal", "remote_support"):
        assert [i for i in items.values() if i.kind == kind], kind
    assert {i.kind for i in items.values()} <= set(checklist.KINDS)


def test_prefill_again_adds_new_items_and_keeps_every_recorded_state(store):
    write_discover_run(store)
    write_ad_run(store)
    checklist.prefill(store, platforms=["cisco_ios"])
    items = by_key(checklist.items(store))
    printer = items[("printer", "198.18.0.5", "")]
    vpn = next(i for i in items.values() if i.kind == "vpn_access")
    checklist.mark(store, printer.id, "changed", operator="alice")
    checklist.mark(store, vpn.id, "not_applicable", operator="alice", note="no VPN here")
    before = {i.id: i for i in checklist.items(store)}

    new_host = ("198.18.0.20", "02:00:00:00:00:20", "printer", None, "prn2", [80])
    write_discover_run(store, [*HOSTS, new_host])
    write_ad_run(store)
    result = checklist.prefill(store, platforms=["cisco_ios"])
    added = checklist.items_by_id(store, result.added)
    assert [(i.kind, i.target) for i in added] == [("printer", "198.18.0.20")]
    assert result.kept == len(before) - len(checklist.UNDISCOVERABLE)  # placeholders: once
    # An account listed once stays one item even when it is read with another role later.
    with store.transaction() as db:
        db.execute(
            "UPDATE checklist_items SET kind = 'workstation_admin' WHERE account = 'svc_sql'"
        )
    assert checklist.prefill(store, platforms=["cisco_ios"]).added == []
    with store.transaction() as db:
        db.execute(
            "UPDATE checklist_items SET kind = 'windows_service_account' WHERE account = 'svc_sql'"
        )
    after = {i.id: i for i in checklist.items(store)}
    for item_id, item in before.items():
        assert after[item_id] == item
    assert after[printer.id].state == "changed" and after[vpn.id].note == "no VPN here"


def test_prefill_adopts_an_accountless_item_once_the_account_is_known(store):
    write_discover_run(store)
    checklist.prefill(store, platforms=["cisco_ios"])
    blank = by_key(checklist.items(store))[("gateway_router", "198.18.0.1", "")]
    checklist.prefill(store, platforms=["cisco_ios"], credentials={"198.18.0.1": ["admin"]})
    items = by_key(checklist.items(store))
    assert ("gateway_router", "198.18.0.1", "") not in items
    assert items[("gateway_router", "198.18.0.1", "admin")].id == blank.id


def test_the_driver_registry_is_listed_only_for_a_device_with_a_platform(store):
    """prefill's platforms may be a call (the registry imports every driver module, ~25 ms
    of a /16 sweep's checklist): a scan where no device has a platform never makes it."""
    asked = []

    def registry() -> list[str]:
        asked.append(True)
        return ["cisco_ios"]

    write_discover_run(store, [h for h in HOSTS if h[3] is None])
    checklist.prefill(store, platforms=registry)
    assert asked == []
    write_discover_run(store)
    checklist.prefill(store, platforms=registry)
    assert asked == [True]
    items = by_key(checklist.items(store))
    assert items[("gateway_router", "198.18.0.1", "")].handling == "automatic"
    assert items[("firewall", "198.18.0.2", "")].handling == "manual"  # fortinet: not listed


def test_new_items_go_in_together_and_their_ids_come_back_in_order(store):
    """The items one prefill wants are inserted in one statement; an account-less item it
    wanted earlier takes the account a later one names, as a listed one would."""
    checklist.add(store, "web_portal", "ISP portal", "acme-admin")
    with store.transaction() as db:
        listed = checklist._Listed(db)
        assert listed.ensure("switch", "198.18.0.3", "", "manual", None, "sw", None)
        assert listed.ensure("printer", "198.18.0.5", "", "manual", None, "prn", None)
        assert not listed.ensure("switch", "198.18.0.3", "admin", "automatic", None, "sw", None)
        assert not listed.ensure("web_portal", "ISP portal", "acme-admin", "manual", None, "", None)
        ids = listed.insert()
    added = checklist.items_by_id(store, ids)
    assert [(i.kind, i.target, i.account, i.handling) for i in added] == [
        ("switch", "198.18.0.3", "admin", "automatic"),
        ("printer", "198.18.0.5", "", "manual"),
    ]
    assert len(checklist.items(store)) == 3


def test_mark_needs_a_reason_for_not_applicable_and_accepted_risk(store):
    item = checklist.add(store, "web_portal", "ISP portal", "acme-admin")
    for state in ("not_applicable", "accepted_risk"):
        with pytest.raises(UsageError, match="needs --note"):
            checklist.mark(store, item.id, state, operator="alice", note="  ")
    before, after = checklist.mark(
        store, item.id, "accepted_risk", operator="alice", note="client keeps it", who="CFO"
    )
    assert before.state == "inherited"
    assert (after.state, after.note, after.decided_by) == (
        "accepted_risk",
        "client keeps it",
        "CFO",
    )
    assert after.decided_at
    with pytest.raises(UsageError, match=r"^web_portal ISP portal acme-admin is already on the"):
        checklist.add(store, "web_portal", "ISP portal", "acme-admin")
    with pytest.raises(UsageError, match="unknown checklist kind"):
        checklist.add(store, "toaster", "kitchen")


def test_mark_rotated_links_the_rotation_and_creates_missing_items(store):
    write_discover_run(store)
    checklist.prefill(store, platforms=["cisco_ios"], credentials={"198.18.0.1": ["admin"]})
    run_id = store.begin_run("rotate", "tester", "acme")
    with store.transaction() as db:
        ids = [
            db.execute(
                "INSERT INTO rotations (run_id, host, platform, username, status, started)"
                " VALUES (?, ?, 'cisco_ios', ?, 'rotated', '2026-01-01T00:00:00Z')",
                (run_id, host, user),
            ).lastrowid
            for host, user in (("198.18.0.1", "admin"), ("198.18.0.2", "admin"),
                               ("198.18.0.99", "root"))
        ]  # fmt: skip
    router = checklist.mark_rotated(store, "198.18.0.1", "admin", ids[0], "alice")
    assert (router.kind, router.state, router.rotation_id) == ("gateway_router", "changed", ids[0])
    assert router.decided_by == "alice" and router.handling == "automatic"
    firewall = checklist.mark_rotated(store, "198.18.0.2", "admin", ids[1], "alice")
    assert (firewall.kind, firewall.account) == ("firewall", "admin")  # adopted the blank item
    assert not checklist.items(store, kinds=["firewall"], states=["inherited"])
    stray = checklist.mark_rotated(store, "198.18.0.99", "root", ids[2], "alice")
    assert (stray.kind, stray.state) == ("other_network_device", "changed")
    again = checklist.mark_rotated(store, "198.18.0.1", "admin", ids[0], "alice")
    assert again.id == router.id
    assert checklist.counts(store)["changed"] == 3
    # What `keyturn rotate` calls after a run: every rotated row of that run, nothing else.
    with store.transaction() as db:
        db.execute(
            "INSERT INTO rotations (run_id, host, platform, username, status, started)"
            " VALUES (?, '198.18.0.12', 'juniper_junos', 'root', 'failed', '2026-01-01')",
            (run_id,),
        )
    marked = checklist.mark_run(store, run_id, "bob")
    assert [item.rotation_id for item in marked] == ids
    assert {item.decided_by for item in marked} == {"bob"}
    assert checklist.items(store, kinds=["other_network_device"], states=["inherited"])


# -- the CLI ---------------------------------------------------------------------------------
def keyturn(cli_env, *args):
    return subprocess.run([KEYTURN, *args], capture_output=True, text=True, env=cli_env, timeout=60)


def test_cli_add_list_mark_and_audit(tmp_path, cli_env):
    added = keyturn(cli_env, "checklist", "add", "--kind", "vpn_access", "--target", "VPN portal",
                    "--account", "vpnadmin")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "added item 1" in added.stdout
    refused = keyturn(cli_env, "checklist", "mark", "1", "not_applicable")
    assert refused.returncode == 2
    assert "needs --note" in refused.stderr and "Traceback" not in refused.stderr
    marked = keyturn(cli_env, "checklist", "mark", "1", "not_applicable", "--note", "no VPN")
    assert marked.returncode == 0, marked.stderr
    assert "inherited -> not_applicable" in marked.stdout
    listed = json.loads(keyturn(cli_env, "checklist", "--json", "-").stdout)
    assert [(i["kind"], i["state"], i["note"], i["decided_by"]) for i in listed] == [
        ("vpn_access", "not_applicable", "no VPN", "tester")
    ]
    assert (
        json.loads(keyturn(cli_env, "checklist", "--state", "inherited", "--json", "-").stdout)
        == []
    )
    table = keyturn(cli_env, "checklist")
    assert "VPN portal" in table.stdout and "not_applicable: 1" in table.stdout
    shown = keyturn(cli_env, "audit", "show").stdout
    assert "checklist.add checklist item 1: added" in shown
    assert "tester" in shown and "checklist.mark checklist item 1: not_applicable" in shown
    assert keyturn(cli_env, "audit", "verify").returncode == 0
    prefilled = keyturn(cli_env, "checklist", "prefill")
    assert prefilled.returncode == 0, prefilled.stderr
    # The VPN was listed by hand already: only the other three placeholders are added.
    assert prefilled.stdout.strip() == "3 item(s) added, 0 already listed"
    kinds = sorted(
        i["kind"] for i in json.loads(keyturn(cli_env, "checklist", "--json", "-").stdout)
    )
    assert kinds == ["antivirus_console", "remote_support", "vpn_access", "web_portal"]
    bad = keyturn(cli_env, "checklist", "add", "--kind", "toaster", "--target", "x")
    assert bad.returncode == 2 and "unknown checklist kind" in bad.stderr
    missing = keyturn(cli_env, "checklist", "mark", "42", "changed")
    assert missing.returncode == 2 and "no checklist item 42" in missing.stderr


def test_service_accounts_with_a_stored_password_are_automatic(store):
    """Issue 14: a service account whose password keyturn holds (kind ad) is rotated by
    onboard --rotate, so its item says so; the others stay manual."""
    write_ad_run(store)
    checklist.prefill(store, directory_credentials=["SVC_SQL", "alice.admin"])
    items = by_key(checklist.items(store))
    domain = "corp.example.com"
    sql = items[("windows_service_account", domain, "svc_sql")]
    assert sql.handling == "automatic" and "rotated by keyturn" in sql.note
    assert items[("windows_service_account", domain, "sp_farm")].handling == "manual"
    # Not a service account: an admin's password is changed by hand even when stored.
    assert items[("workstation_admin", domain, "alice.admin")].handling == "manual"
