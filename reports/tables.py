"""The report as flat tables, and the Excel-safe CSV writer.

A cell that a spreadsheet would read as a formula (leading ``=``, ``+``, ``-``, ``@``, tab or
CR) gets a leading single quote: a hostname or account description planted by whoever ran the
network before must not become a live formula in the auditor's Excel.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from agent.core import files

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

Table = tuple[list[str], list[list[Any]]]


def neutralise(value: Any) -> str:
    """One CSV cell: lists joined, booleans as yes/no, formula triggers defused."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        value = "; ".join(neutralise(v).removeprefix("'") for v in value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def report_tables(r: dict[str, Any]) -> dict[str, Table]:
    """Table name -> (headers, rows) for every section of the report."""
    from reports.remediation import tables as remediation_tables
    from reports.review import tables as review_tables
    from reports.webdns import tables as web_dns_tables

    return {**web_dns_tables(r.get("web_dns")), **remediation_tables(r.get("remediation")),
            **_sections(r), **_topology(r.get("topology")),
            **review_tables(r.get("review"))}  # fmt: skip


def _topology(t: dict[str, Any] | None) -> dict[str, Table]:
    """The diagram's links and host placements (only when a topology run exists)."""
    if t is None:
        return {}
    return {
        "topology_links": (
            ["device", "port", "neighbour", "neighbour_port", "kind", "protocols"],
            [[x["a"], x["a_port"], x["b"], x["b_port"], x["kind"], x["protocols"]]
             for x in t["links"]],
        ),
        "topology_hosts": (
            ["switch", "vlan", "port", "name", "ip", "mac"],
            [[g["device"], g["vlan"], h["port"], h["name"], h["ip"], h["mac"]]
             for g in t["groups"] for h in g["hosts"]],
        ),
    }  # fmt: skip


def _sections(r: dict[str, Any]) -> dict[str, Table]:
    return {
        "hosts": (
            [
                "ip",
                "mac",
                "vendor",
                "mac_randomized",
                "hostnames",
                "device_class",
                "platform",
                "platform_confidence",
                "os",
                "open_ports",
                "snmp_sys_name",
                "snmp_sys_descr",
                "http_title",
            ],
            [
                [
                    h["ip"],
                    h["mac"],
                    h["vendor"],
                    h["mac_randomized"],
                    h["hostnames"],
                    h["device_class"],
                    h["platform"],
                    h["platform_confidence"],
                    h["os"]["name"],
                    [
                        f"{p['port']}/{p['proto']}" + (f" {p['service']}" if p["service"] else "")
                        for p in h["ports"]
                    ],
                    (h["snmp"] or {}).get("sys_name"),
                    (h["snmp"] or {}).get("sys_descr"),
                    h["http_title"],
                ]
                for h in r["hosts"]
            ],
        ),
        "privileged_members": (
            ["group", "account", "sid", "kind", "enabled", "path", "via_primary_group", "dn"],
            [
                [
                    g["name"],
                    m["sam"],
                    m["sid"],
                    m["kind"],
                    m["enabled"],
                    " > ".join(m["path"]),
                    m["via_primary_group"],
                    m["dn"],
                ]
                for g in r["privileged_groups"]
                for m in g["members"]
            ],
        ),
        "rras": (
            ["list", "name"],
            [
                [key, name]
                for key in ("ras_and_ias_servers", "dialin_allowed", "dialin_denied")
                for name in r["rras"][key]
            ],
        ),
        "findings": (
            ["severity", "rule", "account", "detail", "description", "source", "evidence"],
            [
                [
                    f["severity"],
                    f["rule"],
                    f["subject"],
                    f["detail"],
                    f["description"],
                    f["source"],
                    f.get("evidence_lines", []),
                ]
                for f in r["findings"]
            ],
        ),
        "service_accounts": (
            [
                "account",
                "spns",
                "privileged",
                "kerberoastable",
                "enabled",
                "flagged_by",
                "description",
            ],
            [
                [
                    a["sam"],
                    a["spns"],
                    a["privileged"],
                    a["kerberoastable"],
                    a["enabled"],
                    a["rules"],
                    a["description"],
                ]
                for a in r["service_accounts"]
            ],
        ),
        "rotations": (
            [
                "device",
                "platform",
                "account",
                "started",
                "finished",
                "operator",
                "run_id",
                "status",
                "outcome",
                "verified",
                "saved",
                "old_password_refused",
                "error",
            ],
            [
                [
                    x["host"],
                    x["platform"],
                    x["username"],
                    x["started"],
                    x["finished"],
                    x["operator"],
                    x["run_id"],
                    x["status"],
                    x["outcome"],
                    x["verified"],
                    x["saved"],
                    x["old_password_refused"],
                    x["error"],
                ]
                for x in r["rotations"]
            ],
        ),
        "changes": (
            ["severity", "change", "subject", "group", "before", "now", "detail"],
            [
                [
                    c["severity"],
                    c["change"],
                    c["subject"],
                    c["group"],
                    c["old"],
                    c["new"],
                    c["detail"],
                ]
                for c in r["changes"]
            ],
        ),
        "checklist": (
            ["kind", "target", "account", "handling", "state", "decided_by", "decided_at", "note"],
            [
                [
                    i["kind"],
                    i["target"],
                    i["account"],
                    i["handling"],
                    i["state"],
                    i["decided_by"],
                    i["decided_at"],
                    i["note"],
                ]
                for i in r["checklist"]["items"]
            ],
        ),
        "controls": (
            ["framework", "control", "title", "status", "evidence"],
            [
                [c["framework"], c["id"], c["title"], c["status"], c["evidence"]]
                for c in r["controls"]
            ],
        ),
    }


def write_csv(path: Path, table: Table) -> Path:
    """UTF-8 with BOM (so Excel detects the encoding), every cell quoted and neutralised."""
    headers, rows = table
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows([neutralise(cell) for cell in row] for row in rows)
    return files.write_atomic(path, buffer.getvalue(), encoding="utf-8-sig")
