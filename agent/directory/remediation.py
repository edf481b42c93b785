"""``keyturn ad plan | apply | undo``: a reviewed plan, applied with a journal, undone exactly.

plan:  the latest stored ``ad`` run's findings + values re-read from one DC -> plan (dict).
apply: each selected action is journalled (store run ``ad-apply`` and the audit log) as
       ``pending`` BEFORE its modify is sent, then with its outcome.
undo:  reverts the applied, reversible actions of one apply run from its journal (not from
       the plan), newest first, each only if the target still holds what the apply left.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from agent.core.errors import OperationFailed, UsageError
from agent.directory import apply as executor
from agent.directory.actions import KINDS
from agent.directory.krbtgt import KrbtgtState, PasswordSource, parse_time
from agent.directory.plan import PLAN_VERSION, build_plan, guid_of
from inventory.directory import applied_journal_entries, load_journal, save_journal
from inventory.store import utcnow

if TYPE_CHECKING:
    from agent.core.scope import ScopeGuard
    from agent.directory import AdRequest
    from agent.directory.connection import DirectoryConnection
    from agent.directory.model import Entry
    from inventory.store import Store

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_ACTION_FIELDS = ("id", "rule", "target_dn", "target_guid", "action", "reversible", "risk",
                  "before", "after")  # fmt: skip


class AuditSink(Protocol):
    def append(self, action: str, target: str, outcome: str, *, run_id: int | None = None,
               detail: dict | None = None) -> dict: ...  # fmt: skip


@dataclass
class RemediationResult:
    run_id: int
    entries: list[dict]

    @property
    def complete(self) -> bool:
        """Every selected action applied (or undone)."""
        return all(e["status"] == "applied" for e in self.entries)


def run_ad_plan(
    store: Store,
    request: AdRequest,
    guard: ScopeGuard,
    *,
    client: str,
    rules: Iterable[str] = (),
    accounts: Iterable[str] = (),
) -> dict:
    """The plan for the latest ``ad`` run of this store (read-only on the DC)."""
    from agent.directory import open_connection
    from inventory.queries import run_document

    run = store.latest_run("ad")
    if run is None:
        raise UsageError("no 'ad' run in the store: run 'keyturn ad' first")
    document = run_document(store, run.id, "ad")
    if not document.get("findings") and not document.get("domain"):
        raise UsageError(f"run {run.id} has no stored AD document")
    unknown = set(rules) - _known_rules()
    if unknown:
        raise UsageError(f"unknown rule id(s): {', '.join(sorted(unknown))}")
    conn, _root, endpoint = open_connection(request, guard)
    try:
        return build_plan(
            conn, document, client=client, dc=endpoint.label, rules=rules, accounts=accounts
        )
    finally:
        conn.close()


def run_ad_apply(
    store: Store,
    audit: AuditSink,
    request: AdRequest,
    guard: ScopeGuard,
    plan: dict,
    *,
    operator: str,
    client: str,
    only: Iterable[str] = (),
    force: bool = False,
    new_password: PasswordSource | None = None,
) -> RemediationResult:
    """Apply the selected actions; ``force`` lets a second krbtgt reset through before the
    ticket lifetime has passed, ``new_password`` generates krbtgt's (never stored)."""
    selected = select(validate_plan(plan), only)
    from agent.directory import open_connection

    conn, root, endpoint = open_connection(request, guard, writable=True)
    try:
        _same_domain(root, plan)
        guards = _guards(conn, request, plan, root)
        guards.krbtgt = _krbtgt_state(store, selected, force, new_password, endpoint.transport)
        with store.run("ad-apply", operator, client) as run_id:
            journal: list[dict] = []
            for action in selected:
                entry = {
                    **{k: action[k] for k in ("id", "rule", "action", "target_dn",
                                              "target_guid", "reversible")},
                    "planned_before": action["before"], "planned_after": action["after"],
                    "operator": operator, "bound_as": request.user, "dc": endpoint.label,
                    "time": utcnow(), "status": "pending",
                }  # fmt: skip
                _record(store, audit, run_id, journal, entry, "ad.remediate")
                outcome = executor.execute(conn, action, guards)
                entry.update(
                    status=outcome.status,
                    reason=outcome.reason,
                    before=outcome.before,
                    after=outcome.after,
                    finished=utcnow(),
                )
                _record(store, audit, run_id, journal, entry, "ad.remediate")
            result = RemediationResult(run_id, journal)
            store.finish_run(
                run_id, "ok" if result.complete else "partial", _summary(plan, journal)
            )
    finally:
        conn.close()
    return result


def run_ad_undo(
    store: Store,
    audit: AuditSink,
    request: AdRequest,
    guard: ScopeGuard,
    *,
    apply_run: int,
    operator: str,
    client: str,
    only: Iterable[str] = (),
) -> tuple[RemediationResult, list[dict]]:
    """Undo an apply run; returns the result and the irreversible entries left alone."""
    source = store.get_run(apply_run)
    journal = load_journal(store, apply_run)
    if source.command != "ad-apply" or journal is None:
        raise UsageError(f"run {apply_run} is not an 'ad apply' run with a journal")
    wanted = set(only)
    unknown = wanted - {e["id"] for e in journal}
    if unknown:
        raise UsageError(f"no action {', '.join(sorted(unknown))} in run {apply_run}")
    chosen = [e for e in journal if e["status"] == "applied" and (not wanted or e["id"] in wanted)]
    irreversible = [e for e in chosen if not KINDS[e["action"]].reversible]
    from agent.directory import open_connection

    conn, _root, endpoint = open_connection(request, guard, writable=True)
    try:
        with store.run("ad-undo", operator, client) as run_id:
            entries: list[dict] = []
            for done in reversed([e for e in chosen if KINDS[e["action"]].reversible]):
                entry = {
                    **{k: done[k] for k in ("id", "rule", "action", "target_dn", "target_guid")},
                    "undoes_run": apply_run, "operator": operator, "bound_as": request.user,
                    "dc": endpoint.label, "time": utcnow(), "status": "pending",
                }  # fmt: skip
                _record(store, audit, run_id, entries, entry, "ad.remediate.undo")
                outcome = executor.undo(conn, done)
                entry.update(
                    status=outcome.status,
                    reason=outcome.reason,
                    before=outcome.before,
                    after=outcome.after,
                    finished=utcnow(),
                )
                _record(store, audit, run_id, entries, entry, "ad.remediate.undo")
            result = RemediationResult(run_id, entries)
            store.finish_run(
                run_id,
                "ok" if result.complete else "partial",
                {"undoes_run": apply_run, "actions": len(entries)},
            )
    finally:
        conn.close()
    return result, irreversible


def validate_plan(plan: object) -> dict:
    """A plan file is input like any other: check its shape before anything is sent."""
    if not isinstance(plan, dict) or plan.get("version") != PLAN_VERSION:
        raise UsageError(f"not a keyturn AD plan (version {PLAN_VERSION} expected)")
    actions = plan.get("actions")
    if not isinstance(actions, list) or not isinstance(plan.get("domain"), str):
        raise UsageError("plan: 'actions' must be a list and 'domain' a name")
    seen = set()
    for action in actions:
        if not isinstance(action, dict) or any(k not in action for k in _ACTION_FIELDS):
            raise UsageError(f"plan: every action needs {', '.join(_ACTION_FIELDS)}")
        label = str(action["id"])[:40]
        if action["action"] not in KINDS:
            raise UsageError(f"plan: action {label}: unknown action {action['action']!r:.40}")
        if not isinstance(action["target_guid"], str) or not _GUID.match(action["target_guid"]):
            raise UsageError(f"plan: action {label}: target_guid is not a GUID")
        if not _values(action["before"]) or not _values(action["after"]):
            raise UsageError(f"plan: action {label}: before/after must map names to lists")
        if action["id"] in seen:
            raise UsageError(f"plan: duplicate action id {label}")
        seen.add(action["id"])
    return plan


def select(plan: dict, only: Iterable[str]) -> list[dict]:
    wanted = set(only)
    unknown = wanted - {a["id"] for a in plan["actions"]}
    if unknown:
        raise UsageError(f"--only: no action {', '.join(sorted(unknown))} in the plan")
    return [a for a in plan["actions"] if not wanted or a["id"] in wanted]


def _values(mapping: object) -> bool:
    return isinstance(mapping, dict) and all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(x, str) for x in v)
        for k, v in mapping.items())  # fmt: skip


def _known_rules() -> set[str]:
    from agent.directory.domain_rules import DOMAIN_RULE_IDS
    from agent.directory.rules import RULE_IDS

    return {*RULE_IDS, *DOMAIN_RULE_IDS}


def _same_domain(root: Entry, plan: dict) -> None:
    from agent.directory.connection import dns_domain

    domain = dns_domain(root.text("defaultNamingContext"))
    if domain.lower() != plan["domain"].lower():
        raise UsageError(f"the plan is for {plan['domain']:.80}, this DC serves {domain}")


def _guards(conn: DirectoryConnection, request: AdRequest, plan: dict,
            root: Entry) -> executor.Guards:  # fmt: skip
    from agent.directory.collectors import escape_filter
    from agent.directory.flags import decode_sid

    base = root.text("defaultNamingContext") or ""
    domain = conn.read(base, ["objectSid"])
    if domain is None or domain.first("objectSid") is None:
        raise OperationFailed(f"cannot read the domain object {base}")
    user = request.user
    name = user.split("\\")[-1].split("@")[0]
    query = (f"(|(userPrincipalName={escape_filter(user)})(sAMAccountName={escape_filter(name)})"
             f"(distinguishedName={escape_filter(user)}))")  # fmt: skip
    found = list(conn.search(base, f"(&(objectCategory=person){query})", ["objectGUID"]))
    # Ambiguous or unknown (a Kerberos bind has no name here): guard every account action.
    bind_guid = guid_of(found[0]) if len(found) == 1 else None
    if bind_guid is None:
        raise OperationFailed(
            f"cannot identify the bind account {user} in the directory: the guards need it"
        )
    return executor.Guards(bind_guid, decode_sid(domain.first("objectSid")), base)


def _krbtgt_state(store: Store, selected: list[dict], force: bool,
                  new_password: PasswordSource | None, transport: str) -> KrbtgtState:  # fmt: skip
    """When keyturn last reset this krbtgt (from every apply run's journal)."""
    guids = {a["target_guid"] for a in selected if a["action"] == "reset_krbtgt"}
    times = [
        parse_time(e.get("finished") or e.get("time"))
        for e in applied_journal_entries(store, "reset_krbtgt")
        if e.get("target_guid") in guids
    ]
    known = [t for t in times if t is not None]
    return KrbtgtState(max(known) if known else None, force, new_password, transport != "ldap")


def _record(store: Store, audit: AuditSink, run_id: int, journal: list[dict], entry: dict,
            event: str) -> None:  # fmt: skip
    if not any(e is entry for e in journal):
        journal.append(entry)
    save_journal(store, run_id, journal)
    detail = {
        k: entry.get(k)
        for k in ("id", "rule", "action", "target_guid", "status", "reason", "bound_as", "dc")
    }
    detail["before"] = entry.get("before", entry.get("planned_before"))
    detail["after"] = entry.get("after", entry.get("planned_after"))
    audit.append(event, entry["target_dn"], entry["status"], run_id=run_id, detail=detail)


def _summary(plan: dict, journal: list[dict]) -> dict:
    counts: dict[str, int] = {}
    for entry in journal:
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    return {"domain": plan["domain"], "plan_created": plan.get("created"), **counts}
