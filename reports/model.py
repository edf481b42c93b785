"""The report's data: one plain dict built from the store, rendered by every format.

The dict *is* the JSON report (schema ``keyturn.report/1``, documented in docs/reports.md);
HTML, CSV and Markdown are views of it, so the formats can never disagree. Every string that
came from the client network (hostnames, SNMP strings, account descriptions, error texts) is
carried as-is here and escaped or neutralised by the renderer that outputs it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from agent import __version__
from agent.core.secret import scrub
from inventory import queries
from inventory.audit import Verdict
from inventory.model import Host
from inventory.store import Run, Store, utcnow
from reports.controls import control_mapping
from reports.remediation import section as remediation_section
from reports.review import section as review_section
from reports.topology import topology_section
from reports.webdns import section as web_dns_section

SCHEMA = "keyturn.report/1"
SEVERITIES = ("critical", "high", "medium", "low", "info")
# Rotation statuses as rotation/results.py defines them; anything else (failed, rolled_back,
# needs_attention, a row left "running" by a crash) counts as a failure, so an unknown status
# is never silently reported as done.
ROTATION_DONE = frozenset({"rotated"})
ROTATION_NOT_ATTEMPTED = frozenset({"unchanged", "skipped"})


def build_report(
    store: Store,
    *,
    client: str,
    operator: str,
    run_id: int | None = None,
    diff_from: int | None = None,
    audit: Verdict | None = None,
) -> dict[str, Any]:
    """The report dict for the state as of ``run_id`` (None: latest), with changes since
    ``diff_from`` (None: each kind's previous run)."""
    if run_id is not None:
        store.get_run(run_id)  # an unknown run is an error, not an empty report
    current = queries.state_runs(store, run_id)
    if diff_from is not None:
        store.get_run(diff_from)
        baseline = queries.state_runs(store, diff_from)
    else:
        baseline = queries.previous_runs(store, current)
    discover_id = current.discover.id if current.discover else None
    ad_id = current.ad.id if current.ad else None
    ad_doc = queries.run_document(store, ad_id, "ad")

    observed = [o.host for o in queries.hosts_as_of(store, discover_id)]
    if not observed:  # a run stored before the observation tables: its document
        document = queries.run_document(store, discover_id, "discover")
        observed = [Host.from_json(h) for h in document.get("hosts", [])]
    hosts = [_host(h) for h in observed]
    groups = _privileged_groups(store, ad_id, ad_doc)
    # The directory's findings and discovery's (cleartext_management), most severe first.
    order = {s: n for n, s in enumerate(SEVERITIES)}
    findings = sorted(
        _findings(store, ad_id, ad_doc) + _findings(store, discover_id, {}),
        key=lambda f: (order.get(f["severity"], 9), f["rule"] or ""),
    )
    rotations = [_rotation(r) for r in queries.rotations_upto(store, current.upto)]
    changes = _changes(store, baseline, current)
    checklist = _checklist(queries.checklist(store))
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "generated": utcnow(),
        "generated_by": operator,
        "keyturn_version": __version__,
        "client": client,
        "runs": {
            "as_of": run_id,
            "discover": _run(current.discover),
            "ad": _run(current.ad),
            "baseline": {"discover": _run(baseline.discover), "ad": _run(baseline.ad)},
        },
        "domain": ad_doc.get("domain") or None,
        "computers": ad_doc.get("computers") or None,
        "hosts": hosts,
        "privileged_groups": groups,
        "rras": _rras(ad_doc.get("rras")),
        "service_accounts": _service_accounts(
            store, ad_id, ad_doc.get("service_accounts") or [], findings
        ),
        "findings": findings,
        "rotations": rotations,
        "changes": changes,
        "checklist": checklist,
        "audit_log": _verdict(audit),
        "topology": topology_section(store, current.upto),
    }
    # Web and DNS (issue 19): its own section; record and certificate changes join the rest.
    report["web_dns"] = web_dns_section(store, run_id, diff_from)
    # AD remediation (issue 16): what ad apply/undo did, from their journals.
    report["remediation"] = remediation_section(store, run_id)
    # Firewall review (issue 17): exposure, findings and rule changes per device.
    report["review"] = review_section(store, current.upto)
    report["changes"] += report["web_dns"]["changes"] if report["web_dns"] else []
    report["summary"] = _summary(report)
    report["controls"] = control_mapping(report)
    return report


def _run(run: Run | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.id,
        "command": run.command,
        "started": run.started,
        "finished": run.finished,
        "operator": run.operator,
        "status": run.status,
    }


def _host(host: Host) -> dict[str, Any]:
    """One host row of the report."""
    return {
        "ip": host.ip,
        "mac": host.mac,
        "vendor": host.vendor,
        "mac_randomized": bool(host.mac_randomized),
        "hostnames": list(host.hostnames),
        "device_class": host.device_class or "unknown",
        "platform": host.platform,
        "platform_confidence": host.platform_confidence,
        "os": host.os or {"name": None, "accuracy": None},
        "snmp": host.snmp if isinstance(host.snmp, dict) else None,
        "http_title": host.http_title,
        "sources": list(host.sources),
        "ports": [
            {"port": p.port, "proto": p.proto, "service": p.service, "product": p.product,
             "version": p.version}
            for p in host.open_port_list()
        ],
    }  # fmt: skip


def _privileged_groups(
    store: Store, ad_id: int | None, ad_doc: dict[str, Any]
) -> list[dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    for group in ad_doc.get("privileged_groups") or []:
        groups[group.get("sid") or group.get("name")] = {
            "name": group.get("name"),
            "sid": group.get("sid"),
            "rid": group.get("rid"),
            "members": [_member(m) for m in group.get("members") or []],
        }
    rows = queries.memberships_as_of(store, ad_id)
    if rows:
        # The normalised table is authoritative; the document only adds empty groups.
        for group in groups.values():
            group["members"] = []
        for row in rows:
            group = groups.setdefault(
                row["group_sid"],
                {"name": row["group"], "sid": row["group_sid"], "rid": None, "members": []},
            )
            group["members"].append(_member(row))
    return list(groups.values())


def _member(member: dict[str, Any]) -> dict[str, Any]:
    return {
        "sam": member.get("sam"),
        "dn": member.get("dn"),
        "sid": member.get("sid"),
        "kind": member.get("kind"),
        "enabled": member.get("enabled"),
        "path": list(member.get("path") or []),
        "via_primary_group": bool(member.get("via_primary_group")),
    }


def _findings(store: Store, ad_id: int | None, ad_doc: dict[str, Any]) -> list[dict[str, Any]]:
    rows = queries.findings_of(store, ad_id)
    if not rows:
        rows = [
            {
                "source": "ad",
                "rule": f.get("rule"),
                "severity": f.get("severity"),
                "subject": _subject(f),
                "detail": f.get("detail"),
            }
            for f in ad_doc.get("findings") or []
        ]
    # The findings table has no evidence column: the run's document holds it, matched by
    # rule, subject and detail (the stored row's three identifying fields).
    evidence = {
        (f.get("rule"), _subject(f), str(f.get("detail"))): f.get("evidence") or {}
        for f in ad_doc.get("findings") or []
    }
    for finding in rows:
        if not isinstance(finding["detail"], str | None):
            finding["detail"] = str(finding["detail"])
        finding["description"] = _description(store, ad_id, finding["subject"] or "")
        found = evidence.get((finding["rule"], finding["subject"], str(finding["detail"])), {})
        finding["evidence"] = found
        finding["evidence_lines"] = evidence_lines(found)
    order = {s: n for n, s in enumerate(SEVERITIES)}
    return sorted(rows, key=lambda f: (order.get(f["severity"], 9), f["rule"] or ""))


def _subject(finding: dict[str, Any]) -> str | None:
    """Who a document finding is about, as the findings table stores it."""
    return (
        finding.get("account") or finding.get("principal") or finding.get("object")
        or finding.get("dn")
    )  # fmt: skip


def evidence_lines(evidence: dict[str, Any]) -> list[str]:
    """A finding's evidence as short lines for a person (the JSON keeps the dict): one line
    per ACE (type, rights, object type, trustee, inherited), one per other value."""
    lines = []
    for key, value in evidence.items():
        if key == "aces" and isinstance(value, list):
            lines += [_ace_line(ace) for ace in value if isinstance(ace, dict)]
        elif isinstance(value, list):
            lines.append(f"{key}: " + ("; ".join(_plain(v) for v in value) or "none"))
        else:
            lines.append(f"{key}: {_plain(value)}")
    return lines


def _ace_line(ace: dict[str, Any]) -> str:
    rights = ", ".join(str(r) for r in ace.get("rights") or []) or f"mask {ace.get('mask')}"
    scope = ace.get("object_type_name") or ace.get("object_type")
    return (
        f"{ace.get('type', 'allow')} {rights}"
        + (f" ({scope})" if scope else "")
        + f" to {ace.get('principal')} ({ace.get('sid')})"
        + (", inherited" if ace.get("inherited") else "")
    )


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_plain(v)}" for k, v in value.items())
    if value is None:
        return "absent"
    return str(value)


def _description(store: Store, ad_id: int | None, sam: str) -> str | None:
    """The account's AD description: often where a predecessor left a hint or a password."""
    found = queries.directory_object(store, ad_id, sam)
    attributes = found["attributes"] if found else None
    return attributes.get("description") if isinstance(attributes, dict) else None


def _rras(rras: dict[str, Any] | None) -> dict[str, Any]:
    rras = rras or {}
    return {
        "ras_and_ias_servers": [_label(x) for x in rras.get("ras_and_ias_servers") or []],
        "dialin_allowed": [_label(x) for x in rras.get("dialin_allowed") or []],
        "dialin_denied": [_label(x) for x in rras.get("dialin_denied") or []],
        "dialin_policy_controlled_count": rras.get("dialin_policy_controlled_count"),
    }


def _label(item: Any) -> str:
    """Lists in the AD document may hold names or objects; the report shows a name."""
    if isinstance(item, dict):
        return str(item.get("sam") or item.get("name") or item.get("dn") or item.get("sid"))
    return str(item)


def _service_accounts(
    store: Store, ad_id: int | None, accounts: list[Any], findings: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    rules: dict[str, list[str]] = {}
    for finding in findings:
        rules.setdefault((finding["subject"] or "").lower(), []).append(finding["rule"])
    result = []
    for account in accounts:
        account = account if isinstance(account, dict) else {"sam": str(account)}
        sam = account.get("sam") or account.get("name") or ""
        result.append(
            {
                "sam": sam,
                "spns": list(account.get("spns") or []),
                "privileged": bool(account.get("privileged")),
                "enabled": account.get("enabled"),
                "kerberoastable": account.get("kerberoastable"),
                "description": account.get("description") or _description(store, ad_id, sam),
                "rules": sorted(set(rules.get(sam.lower(), []))),
            }
        )
    return result


def _rotation(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    if row["error"]:
        row["error"] = scrub(row["error"])
    row["outcome"] = (
        "done"
        if row["status"] in ROTATION_DONE
        else "not attempted"
        if row["status"] in ROTATION_NOT_ATTEMPTED
        else "failed"
    )
    return row


def _changes(
    store: Store, baseline: queries.RunSet, current: queries.RunSet
) -> list[dict[str, Any]]:
    def ids(a: Run | None, b: Run | None) -> tuple[int | None, int | None]:
        # Comparing a run with itself (or with nothing) yields no changes, not noise.
        if a is None or b is None or a.id == b.id:
            return None, None
        return a.id, b.id

    host_ids = ids(baseline.discover, current.discover)
    ad_ids = ids(baseline.ad, current.ad)
    return (
        queries.diff_hosts(store, *host_ids)
        + queries.diff_memberships(store, *ad_ids)
        + queries.diff_findings(store, *ad_ids)
    )


def _checklist(items: list[dict[str, Any]]) -> dict[str, Any]:
    by_kind: dict[str, Counter] = {}
    for item in items:
        counts = by_kind.setdefault(item["kind"], Counter())
        counts["total"] += 1
        counts[item["state"]] += 1
    total = len(items)
    handled = sum(1 for i in items if i["state"] != "inherited")
    return {
        "items": [
            {
                k: i.get(k)
                for k in (
                    "kind",
                    "target",
                    "account",
                    "handling",
                    "state",
                    "note",
                    "decided_by",
                    "decided_at",
                )
            }
            for i in items
        ],
        "by_kind": [
            {
                "kind": kind,
                "total": c["total"],
                "changed": c["changed"],
                "not_applicable": c["not_applicable"],
                "accepted_risk": c["accepted_risk"],
                "inherited": c["inherited"],
            }
            for kind, c in sorted(by_kind.items())
        ],
        "cis_4_7": {
            "no_longer_inherited": handled,
            "total": total,
            "share": round(handled / total, 4) if total else None,
        },
    }


def _verdict(verdict: Verdict | None) -> dict[str, Any] | None:
    if verdict is None:
        return None
    return {
        "ok": verdict.ok,
        "entries": verdict.entries,
        "first_bad": verdict.first_bad,
        "reason": verdict.reason,
        "summary": verdict.describe(),
    }


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    # Counted as the AD audit and onboard count them: users and computers of this domain.
    # Foreign principals stay listed in their groups, but are not accounts we can manage here.
    accounts = {
        m["sid"] or m["sam"]
        for g in report["privileged_groups"]
        for m in g["members"]
        if m["kind"] not in ("group", "foreign")
    }
    outcomes = Counter(r["outcome"] for r in report["rotations"])
    severities = Counter(f["severity"] for f in report["findings"])
    return {
        "hosts": len(report["hosts"]),
        "hosts_by_class": dict(sorted(Counter(h["device_class"] for h in report["hosts"]).items())),
        "privileged_accounts": len(accounts),
        "dialin_allowed": len(report["rras"]["dialin_allowed"]),
        "rotations": {
            "done": outcomes["done"],
            "failed": outcomes["failed"],
            "not_attempted": outcomes["not attempted"],
        },
        "findings_by_severity": {s: severities[s] for s in SEVERITIES if severities[s]}
        | {s: n for s, n in severities.items() if s not in SEVERITIES},
        "changes": len(report["changes"]),
        "critical_changes": sum(1 for c in report["changes"] if c["severity"] == "critical"),
    }
