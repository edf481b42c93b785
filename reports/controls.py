"""Which evidence in a report supports which control (CIS Controls v8, ISO/IEC 27001:2022).

Each control is a small named unit: an id, a title and a function that reads the report dict
and returns (status, evidence sentence). Status is "evidenced", "partial" or "not evidenced";
keyturn says "not evidenced" rather than guess (it never sees MFA, for instance).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Report = dict[str, Any]
Assessment = tuple[str, str]

EVIDENCED, PARTIAL, NOT_EVIDENCED = "evidenced", "partial", "not evidenced"
DORMANT_HINTS = ("stale", "dormant", "inactive", "never_logged", "unused")


@dataclass(frozen=True)
class Control:
    framework: str
    id: str
    title: str
    assess: Callable[[Report], Assessment]


def _asset_inventory(r: Report) -> Assessment:
    run = r["runs"]["discover"]
    if not run:
        return NOT_EVIDENCED, "No discovery run in the store."
    classes = ", ".join(f"{n} {c}" for c, n in r["summary"]["hosts_by_class"].items())
    return EVIDENCED, (
        f"Hosts table: {len(r['hosts'])} IP devices found by discovery run {run['id']} "
        f"({run['finished'] or run['started']}): {classes or 'none'}."
    )


def _default_accounts(r: Report) -> Assessment:
    figure = r["checklist"]["cis_4_7"]
    done = r["summary"]["rotations"]["done"]
    if not figure["total"]:
        if done:
            return PARTIAL, f"Rotations: {done} inherited device passwords changed; no checklist."
        return NOT_EVIDENCED, "No credential checklist and no rotations recorded."
    status = EVIDENCED if figure["no_longer_inherited"] == figure["total"] else PARTIAL
    return status, (
        f"Credential checklist: {figure['no_longer_inherited']} of {figure['total']} inherited "
        f"credentials ({figure['share']:.0%}) changed or decided; rotations: {done} done."
    )


def _account_inventory(r: Report) -> Assessment:
    if not r["runs"]["ad"]:
        return NOT_EVIDENCED, "No Active Directory audit in the store."
    return EVIDENCED, (
        f"Privileged groups ({r['summary']['privileged_accounts']} accounts), "
        f"{len(r['service_accounts'])} service accounts and {len(r['findings'])} findings "
        f"from AD audit run {r['runs']['ad']['id']}."
    )


def _unique_passwords(r: Report) -> Assessment:
    done = [x for x in r["rotations"] if x["outcome"] == "done"]
    if not done:
        return NOT_EVIDENCED, "No completed rotation recorded."
    verified = sum(1 for x in done if x["verified"])
    return PARTIAL, (
        f"Rotations: {len(done)} device accounts given a generated per-device password, "
        f"{verified} verified by a fresh login; other accounts not assessed."
    )


def _dormant(r: Report) -> Assessment:
    if not r["runs"]["ad"]:
        return NOT_EVIDENCED, "No Active Directory audit in the store."
    dormant = [f for f in r["findings"] if any(h in (f["rule"] or "") for h in DORMANT_HINTS)]
    return PARTIAL, (
        f"Findings: {len(dormant)} enabled accounts flagged as dormant or stale; the report "
        "identifies them, disabling them is the client's decision."
    )


def _admin_privileges(r: Report) -> Assessment:
    if not r["runs"]["ad"]:
        return NOT_EVIDENCED, "No Active Directory audit in the store."
    return EVIDENCED, (
        f"Privileged groups: {r['summary']['privileged_accounts']} accounts hold administrative "
        "rights, each with the membership path it gets in by."
    )


def _granting(r: Report) -> Assessment:
    if not r["runs"]["ad"]:
        return NOT_EVIDENCED, "No Active Directory audit in the store."
    base = r["runs"]["baseline"]
    if not (base["ad"] or base["discover"]):
        return PARTIAL, "Single run only: current rights listed, no earlier run to compare."
    added = sum(1 for c in r["changes"] if c["change"] == "privileged_member_added")
    removed = sum(1 for c in r["changes"] if c["change"] == "privileged_member_removed")
    return PARTIAL, (
        f"Changes since the previous run: {added} privileged members added, {removed} removed; "
        "whether each was approved is outside what keyturn observes."
    )


def _mfa(r: Report) -> Assessment:
    return NOT_EVIDENCED, "keyturn does not observe MFA; not evidenced by this report."


def _rbac(r: Report) -> Assessment:
    if not r["runs"]["ad"]:
        return NOT_EVIDENCED, "No Active Directory audit in the store."
    nested = sum(1 for g in r["privileged_groups"] for m in g["members"] if len(m["path"]) > 1)
    return PARTIAL, (
        f"Privileged groups with membership paths ({nested} members get in through nested "
        f"groups); RRAS dial-in: {r['summary']['dialin_allowed']} allowed."
    )


def _access_control(r: Report) -> Assessment:
    if not r["runs"]["ad"]:
        return NOT_EVIDENCED, "No Active Directory audit in the store."
    return EVIDENCED, (
        f"Privileged groups and RRAS remote access ({r['summary']['dialin_allowed']} accounts "
        "allowed to dial in) as configured in the directory."
    )


def _authentication_info(r: Report) -> Assessment:
    status, text = _default_accounts(r)
    return status, text + " New passwords are escrowed in the keyring, never in this report."


def _logging(r: Report) -> Assessment:
    log = r["audit_log"]
    if log is None:
        return NOT_EVIDENCED, "Audit log not verified for this report."
    if not log["ok"]:
        return NOT_EVIDENCED, f"Audit log verification FAILED: {log['summary']}."
    return EVIDENCED, f"Tamper-evident audit log verified: {log['summary']}."


def _changes_seen(r: Report) -> Assessment:
    status, text = _granting(r)
    return status, text + " Audit log: " + (r["audit_log"] or {}).get("summary", "not verified")


CONTROLS: tuple[Control, ...] = (
    Control(
        "CIS v8",
        "1.1",
        "Establish and maintain detailed enterprise asset inventory",
        _asset_inventory,
    ),
    Control(
        "CIS v8",
        "4.7",
        "Manage default accounts on enterprise assets and software",
        _default_accounts,
    ),
    Control("CIS v8", "5.1", "Establish and maintain an inventory of accounts", _account_inventory),
    Control("CIS v8", "5.2", "Use unique passwords", _unique_passwords),
    Control("CIS v8", "5.3", "Disable dormant accounts", _dormant),
    Control(
        "CIS v8",
        "5.4",
        "Restrict administrator privileges to dedicated accounts",
        _admin_privileges,
    ),
    Control("CIS v8", "6.1", "Establish an access granting process", _granting),
    Control("CIS v8", "6.2", "Establish an access revoking process", _granting),
    Control("CIS v8", "6.5", "Require MFA for administrative access", _mfa),
    Control("CIS v8", "6.8", "Define and maintain role-based access control", _rbac),
    Control(
        "ISO 27001:2022",
        "A.5.9",
        "Inventory of information and other associated assets",
        _asset_inventory,
    ),
    Control("ISO 27001:2022", "A.5.15", "Access control", _access_control),
    Control("ISO 27001:2022", "A.5.16", "Identity management", _account_inventory),
    Control("ISO 27001:2022", "A.5.17", "Authentication information", _authentication_info),
    Control("ISO 27001:2022", "A.5.18", "Access rights", _changes_seen),
    Control("ISO 27001:2022", "A.8.2", "Privileged access rights", _admin_privileges),
    Control("ISO 27001:2022", "A.8.15", "Logging", _logging),
)


def control_mapping(report: Report) -> list[dict[str, str]]:
    """One row per control: framework, id, title, status, evidence."""
    rows = []
    for control in CONTROLS:
        status, evidence = control.assess(report)
        rows.append(
            {
                "framework": control.framework,
                "id": control.id,
                "title": control.title,
                "status": status,
                "evidence": evidence,
            }
        )
    return rows
