"""A realistic store for report tests, written with plain SQL in the producers' agreed shapes.

Two discovery runs and two AD audits with planted changes between them (a host added, a host
gone, a port opened and one closed, a MAC change on an IP, a new Domain Admin), a rotation run,
a credential checklist, and attacker-controlled strings in hostnames, SNMP and descriptions.
"""

from __future__ import annotations

import json
from typing import Any

from inventory.store import Store

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
FORMULA = '=HYPERLINK("http://x","y")'
# A principal named with markup and an ANSI escape (a directory name is the client's data).
ACE_PRINCIPAL = "ACME\\old<b>prov</b>\x1b[31m"

DOMAIN = {
    "dns_name": "acme.example",
    "netbios_name": "ACME",
    "sid": "S-1-5-21-1-2-3",
    "functional_level": "2016",
    "dcs": ["dc1.acme.example"],
}
SID = DOMAIN["sid"]
DOMAIN_DN = "DC=acme,DC=example"


def _host(
    ip,
    mac,
    cls,
    platform=None,
    names=(),
    ports=(),
    snmp=None,
    vendor="Cisco Systems",
    http_title=None,
) -> dict[str, Any]:
    return {
        "ip": ip,
        "mac": mac,
        "vendor": vendor,
        "mac_randomized": False,
        "hostnames": list(names),
        "sources": ["arp", "nmap"],
        "ports": [
            {
                "port": p,
                "proto": proto,
                "state": "open",
                "service": svc,
                "product": None,
                "version": None,
            }
            for p, proto, svc in ports
        ],
        "os": {"name": None, "accuracy": None},
        "snmp": snmp,
        "device_class": cls,
        "platform": platform,
        "platform_confidence": 0.9 if platform else None,
        "http_title": http_title,
    }


def _hosts_before() -> list[dict[str, Any]]:
    return [
        _host(
            "198.18.0.1",
            "00:1a:2b:00:00:01",
            "router",
            "cisco_ios",
            ["gw1.acme.example"],
            [(22, "tcp", "ssh"), (23, "tcp", "telnet"), (161, "udp", "snmp")],
            {
                "sys_descr": "Cisco IOS Software, C2900",
                "sys_object_id": "1.3.6.1.4.1.9.1.1",
                "sys_name": "gw1",
            },
        ),
        _host(
            "198.18.0.2",
            "00:1a:2b:00:00:02",
            "firewall",
            "fortinet",
            ["fw1"],
            [(22, "tcp", "ssh"), (443, "tcp", "https")],
            vendor="Fortinet",
        ),
        _host(
            "198.18.0.3",
            "00:1a:2b:00:00:03",
            "switch",
            "arista_eos",
            ["sw1"],
            [(22, "tcp", "ssh")],
            vendor="Arista Networks",
        ),
        _host(
            "198.18.0.10",
            "00:1a:2b:00:00:10",
            "printer",
            None,
            [IMG],
            [(80, "tcp", "http"), (9100, "tcp", "jetdirect")],
            {"sys_descr": SCRIPT, "sys_object_id": "1.3.6.1.4.1.11", "sys_name": FORMULA},
            vendor="HP",
            http_title=IMG,
        ),
        _host(
            "198.18.0.20",
            "00:1a:2b:00:00:20",
            "nas",
            None,
            ["nas1"],
            [(445, "tcp", "microsoft-ds")],
            vendor="Synology",
        ),
        _host(
            "198.18.0.30",
            "00:1a:2b:00:00:30",
            "server",
            None,
            ["dc1.acme.example"],
            [
                (53, "tcp", "domain"),
                (88, "tcp", "kerberos"),
                (389, "tcp", "ldap"),
                (636, "tcp", "ldaps"),
            ],
            vendor="Dell",
        ),
        _host(
            "198.18.0.40",
            "00:1a:2b:00:00:40",
            "voip",
            None,
            ["phone40"],
            [(5060, "udp", "sip")],
            vendor="Yealink",
        ),
    ]


def _hosts_after() -> list[dict[str, Any]]:
    hosts = {h["ip"]: h for h in _hosts_before()}
    del hosts["198.18.0.20"]  # host gone
    hosts["198.18.0.1"]["ports"] = [p for p in hosts["198.18.0.1"]["ports"] if p["port"] != 23]
    hosts["198.18.0.2"]["ports"].append(
        {
            "port": 8080,
            "proto": "tcp",
            "state": "open",
            "service": "http-proxy",
            "product": None,
            "version": None,
        }
    )
    hosts["198.18.0.40"]["mac"] = "de:ad:be:ef:00:40"
    hosts["198.18.0.40"]["vendor"] = None
    hosts["198.18.0.50"] = _host(
        "198.18.0.50",
        "00:1a:2b:00:00:50",
        "workstation",
        None,
        [FORMULA],
        [(3389, "tcp", "ms-wbt-server")],
        vendor="Lenovo",
    )
    return list(hosts.values())


def _member(rid, sam, kind="user", path=None, enabled=True, primary=False) -> dict[str, Any]:
    return {
        "sam": sam,
        "dn": f"CN={sam},CN=Users,DC=acme,DC=example",
        "sid": f"{SID}-{rid}",
        "kind": kind,
        "enabled": enabled,
        "path": path or [],
        "via_primary_group": primary,
    }


def _ad_document(run_id: int, *, with_mallory: bool) -> dict[str, Any]:
    admins = [
        _member(500, "Administrator", path=["Domain Admins"]),
        _member(1105, "alice.admin", path=["IT Admins", "Domain Admins"]),
        _member(1106, "svc_backup", path=["Domain Admins"]),
    ]
    if with_mallory:
        admins.append(_member(1199, "mallory", path=["Domain Admins"]))
    findings = [
        {
            "rule": "privileged_service_account",
            "severity": "high",
            "account": "svc_backup",
            "detail": "service account with SPN in Domain Admins",
        },
        {
            "rule": "stale_enabled_account",
            "severity": "medium",
            "account": "helpdesk_old",
            "detail": "no logon for 400 days",
        },
        {
            "rule": "password_never_expires",
            "severity": "low",
            "account": "svc_backup",
            "detail": "DONT_EXPIRE_PASSWORD set",
        },
        {
            "rule": "backdoor_description",
            "severity": "critical",
            "account": "support",
            "detail": "description looks like a stored password",
        },
        # An ACL finding (issue 16): an object instead of an account, the ACE as evidence,
        # with a principal name planted with markup and a terminal escape.
        {
            "rule": "adminsdholder_ace",
            "severity": "critical",
            "object": "AdminSDHolder",
            "principal": ACE_PRINCIPAL,
            "principal_sid": f"{SID}-1300",
            "dn": "CN=AdminSDHolder,CN=System,DC=acme,DC=example",
            "detail": f"{ACE_PRINCIPAL} may write AdminSDHolder",
            "evidence": {
                "aces": [
                    {
                        "principal": ACE_PRINCIPAL,
                        "sid": f"{SID}-1300",
                        "type": "allow",
                        "rights": ["GENERIC_ALL"],
                        "mask": 983551,
                        "object_type": None,
                        "object_type_name": None,
                        "inherited": False,
                        "ace_hex": "00001400ff000f00",
                    }
                ]
            },
        },
    ]
    return {
        "run_id": run_id,
        "domain": DOMAIN,
        "privileged_groups": [
            {"rid": 512, "sid": f"{SID}-512", "name": "Domain Admins", "members": admins},
            {
                "rid": 519,
                "sid": f"{SID}-519",
                "name": "Enterprise Admins",
                "members": [_member(500, "Administrator", path=["Enterprise Admins"])],
            },
            {"rid": 548, "sid": "S-1-5-32-548", "name": "Account Operators", "members": []},
        ],
        "rras": {
            "ras_and_ias_servers": ["DC1$"],
            "dialin_allowed": ["alice.admin", "support"],
            "dialin_denied": ["guest"],
            "dialin_policy_controlled_count": 12,
        },
        "service_accounts": [
            {"sam": "svc_backup", "spns": ["backup/nas1.acme.example"], "privileged": True},
            {"sam": "svc_sql", "spns": ["MSSQLSvc/db1.acme.example:1433"], "privileged": False},
        ],
        "computers": {"servers": 3, "workstations": 41, "by_os": {"Windows 11 Pro": 41}},
        "findings": findings,
    }


def _insert_discover(
    db, run_id: int, hosts: list[dict[str, Any]], ports_spec: str | None = "top100"
) -> None:
    for h in hosts:
        row = db.execute("SELECT id FROM hosts WHERE mac = ?", (h["mac"],)).fetchone()
        if row:
            host_id = row["id"]
            db.execute(
                "UPDATE hosts SET ip = ?, last_run = ? WHERE id = ?", (h["ip"], run_id, host_id)
            )
        else:
            host_id = db.execute(
                "INSERT INTO hosts (mac, ip, first_run, last_run) VALUES (?, ?, ?, ?)",
                (h["mac"], h["ip"], run_id, run_id),
            ).lastrowid
        db.execute(
            "INSERT INTO host_observations (run_id, host_id, ip, mac, vendor, mac_randomized,"
            " hostnames, sources, os_name, os_accuracy, snmp, device_class, platform,"
            " platform_confidence, extra) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                run_id,
                host_id,
                h["ip"],
                h["mac"],
                h["vendor"],
                0,
                json.dumps(h["hostnames"]),
                json.dumps(h["sources"]),
                None,
                None,
                json.dumps(h["snmp"]) if h["snmp"] else None,
                h["device_class"],
                h["platform"],
                h["platform_confidence"],
                json.dumps({"http_title": h["http_title"]}) if h["http_title"] else None,
            ),
        )
        for p in h["ports"]:
            db.execute(
                "INSERT INTO services (run_id, host_id, port, proto, state, service)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, host_id, p["port"], p["proto"], p["state"], p["service"]),
            )
    doc = {
        "run_id": run_id,
        "started": "2026-11-20T10:00:00Z",
        "finished": "2026-11-20T10:02:00Z",
        "scope": ["198.18.0.0/24"],
        "ports": ports_spec,
        "hosts": hosts,
    }
    db.execute(
        "INSERT INTO run_documents (run_id, kind, data) VALUES (?, 'discover', ?)",
        (run_id, json.dumps(doc)),
    )


def _insert_ad(db, run_id: int, doc: dict[str, Any]) -> None:
    for group in doc["privileged_groups"]:
        for m in group["members"]:
            db.execute(
                "INSERT INTO group_memberships (run_id, group_sid, group_name, member_sid,"
                " member_sam, member_dn, member_kind, enabled, path, via_primary_group)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    group["sid"],
                    group["name"],
                    m["sid"],
                    m["sam"],
                    m["dn"],
                    m["kind"],
                    int(m["enabled"]),
                    json.dumps(m["path"]),
                    int(m["via_primary_group"]),
                ),
            )
    for f in doc["findings"]:
        db.execute(
            "INSERT INTO findings (run_id, source, rule, severity, subject, detail)"
            " VALUES (?, 'ad', ?, ?, ?, ?)",
            (run_id, f["rule"], f["severity"], f.get("account") or f["principal"], f["detail"]),
        )
    descriptions = {"support": f"{SCRIPT} old support login {IMG}", "svc_backup": FORMULA}
    for rid, (sam, text) in enumerate(descriptions.items(), start=2000):
        db.execute(
            "INSERT INTO directory_objects (run_id, sid, sam, dn, kind, enabled, attributes)"
            " VALUES (?, ?, ?, ?, 'user', 1, ?)",
            (
                run_id,
                f"{SID}-{rid}",
                sam,
                f"CN={sam},DC=acme,DC=example",
                json.dumps({"description": text}),
            ),
        )
    db.execute(
        "INSERT INTO run_documents (run_id, kind, data) VALUES (?, 'ad', ?)",
        (run_id, json.dumps(doc)),
    )


def _insert_rotations(db, run_id: int) -> None:
    rows = [
        ("198.18.0.1", "cisco_ios", "admin", "rotated", 1, 1, 1, None),
        ("198.18.0.2", "fortinet", "admin", "failed", 0, 0, None, "login refused: " + FORMULA),
        ("198.18.0.3", "arista_eos", "admin", "rotated", 1, 1, 1, None),
    ]
    for host, platform, user, status, verified, saved, refused, error in rows:
        rotation_id = db.execute(
            "INSERT INTO rotations (run_id, host, platform, username, status, verified, saved,"
            " old_password_refused, error, started, finished) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                run_id,
                host,
                platform,
                user,
                status,
                verified,
                saved,
                refused,
                error,
                "2026-11-21T09:00:00Z",
                "2026-11-21T09:00:20Z",
            ),
        ).lastrowid
        db.execute(
            "INSERT INTO rotation_steps (rotation_id, seq, step, outcome, at)"
            " VALUES (?, 1, 'change', ?, '2026-11-21T09:00:10Z')",
            (rotation_id, status),
        )
    results = [
        {
            "host": r[0],
            "platform": r[1],
            "username": r[2],
            "status": r[3],
            "verified": bool(r[4]),
            "saved": bool(r[5]),
            "old_password_refused": r[6],
            "error": r[7],
        }
        for r in rows
    ]
    db.execute(
        "INSERT INTO run_documents (run_id, kind, data) VALUES (?, 'rotate', ?)",
        (run_id, json.dumps({"run_id": run_id, "results": results})),
    )


def _insert_checklist(db, run_id: int) -> None:
    items = [
        ("device_admin", "198.18.0.1", "admin", "automatic", "changed"),
        ("device_admin", "198.18.0.2", "admin", "automatic", "inherited"),
        ("device_admin", "198.18.0.3", "admin", "automatic", "changed"),
        ("ad_account", "ACME", "Administrator", "manual", "changed"),
        ("ad_account", "ACME", "svc_backup", "manual", "accepted_risk"),
        ("wifi_psk", "Office WLAN", "", "manual", "inherited"),
    ]
    for kind, target, account, handling, state in items:
        db.execute(
            "INSERT INTO checklist_items (kind, target, account, handling, state, created_run)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (kind, target, account, handling, state, run_id),
        )


def add_sweep_only_run(store: Store, operator: str = "alice") -> int:
    """A discover --no-nmap run: the same hosts, no ports seen, "ports": null."""
    hosts = _hosts_after()
    for host in hosts:
        host["ports"] = []
    with store.run("discover", operator, "acme") as run_id, store.transaction() as db:
        _insert_discover(db, run_id, hosts, ports_spec=None)
    return run_id


def populate(store: Store, operator: str = "alice") -> dict[str, int]:
    """Runs: discover, ad, discover, ad, rotate. Returns their ids by role."""
    runs: dict[str, int] = {}
    steps = [
        ("discover1", "discover", lambda db, rid: _insert_discover(db, rid, _hosts_before())),
        ("ad1", "ad", lambda db, rid: _insert_ad(db, rid, _ad_document(rid, with_mallory=False))),
        ("discover2", "discover", lambda db, rid: _insert_discover(db, rid, _hosts_after())),
        ("ad2", "ad", lambda db, rid: _insert_ad(db, rid, _ad_document(rid, with_mallory=True))),
        ("rotate", "rotate", _insert_rotations),
    ]
    for role, command, insert in steps:
        with store.run(command, operator, "acme") as run_id:
            with store.transaction() as db:
                insert(db, run_id)
            runs[role] = run_id
    with store.transaction() as db:
        _insert_checklist(db, runs["rotate"])
    return runs


def add_remediation_runs(store: Store, operator: str = "alice") -> dict[str, int]:
    """An ``ad apply`` run (applied, skipped, refused) and an ``ad undo`` run of it, their
    journals as remediation.py writes them. Returns their ids."""
    dn = f"CN=helpdesk_old,CN=Users,{DOMAIN_DN}"
    common = {"operator": operator, "bound_as": "audit@acme.example", "dc": "198.18.5.10:636"}
    apply_journal = [
        {"id": "a1", "rule": "stale_account", "action": "disable_account", "target_dn": dn,
         "target_guid": "0" * 8 + "-0000-0000-0000-" + "0" * 12, "reversible": True,
         "status": "applied", "reason": "", "time": "2026-11-30T08:00:00Z",
         "finished": "2026-11-30T08:00:01Z", **common},
        {"id": "a2", "rule": "machine_account_quota", "action": "set_machine_account_quota_zero",
         "target_dn": DOMAIN_DN, "target_guid": "1" * 8 + "-0000-0000-0000-" + "0" * 12,
         "reversible": True, "status": "skipped",
         "reason": f"changed since the plan {SCRIPT}", "time": "2026-11-30T08:00:02Z", **common},
        {"id": "a3", "rule": "krbtgt_password_age", "action": "reset_krbtgt",
         "target_dn": f"CN=krbtgt,CN=Users,{DOMAIN_DN}",
         "target_guid": "2" * 8 + "-0000-0000-0000-" + "0" * 12, "reversible": False,
         "status": "applied", "reason": "", "time": "2026-11-30T08:00:03Z", **common},
    ]  # fmt: skip
    runs = {}
    with store.run("ad-apply", operator, "acme") as run_id:
        with store.transaction() as db:
            db.execute(
                "INSERT INTO run_documents (run_id, kind, data) VALUES (?, 'ad_journal', ?)",
                (run_id, json.dumps(apply_journal)),
            )
        runs["apply"] = run_id
    undo_journal = [
        {"id": "a1", "rule": "stale_account", "action": "disable_account", "target_dn": dn,
         "undoes_run": runs["apply"], "status": "applied", "reason": "",
         "time": "2026-11-30T09:00:00Z", "finished": "2026-11-30T09:00:01Z", **common},
    ]  # fmt: skip
    with store.run("ad-undo", "bob", "acme") as run_id:
        with store.transaction() as db:
            db.execute(
                "INSERT INTO run_documents (run_id, kind, data) VALUES (?, 'ad_journal', ?)",
                (run_id, json.dumps(undo_journal)),
            )
        runs["undo"] = run_id
    return runs
