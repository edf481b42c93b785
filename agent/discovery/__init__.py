"""Discovery: find every IP device in the authorised scope and say what it is.

Entry points for the CLI and other engineers: :func:`run_discovery` (sweep, enrich, store)
and :func:`import_scan` (an existing nmap XML scan into the inventory). Both return the JSON
document that is also stored as the run's ``discover`` document.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.core.scope import ScopeGuard, address_key
from agent.discovery.model import Host
from agent.discovery.run import Options, Progress, ScanOutcome

__all__ = ["Options", "Progress", "ScanOutcome", "import_scan", "run_discovery"]


def run_discovery(
    store,
    guard: ScopeGuard,
    options: Options,
    *,
    operator: str,
    client: str | None = None,
    progress: Progress | None = None,
    swept: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Sweep and enrich the scope, store the run, and return its document (with ``diff``).

    Raises PrivilegeError before anything is sent or stored when raw sockets are not allowed.
    ``swept`` is called once the sweeps are done, before enrichment and before any host is
    stored; what it raises ends the run (``failed``).
    """
    from agent.discovery import nmapscan, run
    from agent.discovery.plan import plan

    planned = plan(guard, options.iface)  # usage and privilege errors leave no run behind
    resume, resumed_from = _resumable(store, guard, options)
    with store.run("discover", operator, client) as run_id:
        outcome = run.ScanOutcome()
        if options.nmap:  # a sweep-only run is stored whole a moment after its sweep
            outcome.on_hosts = _Checkpoint(store, run_id, guard, options, outcome)
        nmapscan.allow()
        try:
            run.discover(
                guard, options, progress, planned, outcome=outcome, resume=resume, swept=swept
            )
        except run.Interrupted as stop:
            # Keep what was found: the hosts swept so far, enriched or not, as a partial run
            # the next discovery of the same scope resumes.
            outcome.errors.append(f"interrupted ({stop.reason}) during {outcome.stage}")
            outcome.settle()
            interrupted = {
                "reason": stop.reason,
                "stage": outcome.stage,
                "enriched": sorted(outcome.enriched, key=address_key),
            }
            return _finish(
                store, run_id, guard, outcome, options, interrupted=interrupted,
                resumed_from=resumed_from,
            )  # fmt: skip
        return _finish(store, run_id, guard, outcome, options, resumed_from=resumed_from)


class _Checkpoint:
    """Stores the hosts of a running discovery as the sweep finds them and as each host
    group's enrichment ends, in the run itself, so the inventory grows while the scan runs
    and a process killed outright keeps what it found (inventory.hosts.save_progress). The
    rows are unclassified until the run's final save: no reader takes an unfinished run."""

    def __init__(self, store, run_id: int, guard: ScopeGuard, options: Options, outcome) -> None:
        self.store, self.run_id, self.outcome = store, run_id, outcome
        self.where = {"run_id": run_id, **_coverage(guard, options)}

    def __call__(self, hosts: list[Host]) -> None:
        from inventory import hosts as inventory_hosts

        done = {
            "reason": "the process ended before the scan did",
            "stage": self.outcome.stage,
            "enriched": sorted(self.outcome.enriched, key=address_key),
        }
        inventory_hosts.save_progress(
            self.store, self.run_id, hosts, {**self.where, "interrupted": done}
        )


def _coverage(guard: ScopeGuard | None, options: Options | None) -> dict[str, Any]:
    """What a run covered, as its document says it: a resumed run must cover the same."""
    return {
        "scope": [str(n) for n in guard.include] if guard else [],
        "exclude": [str(n) for n in guard.exclude] if guard else [],
        "ports": options.ports if options and options.nmap else None,
    }


def _resumable(
    store, guard: ScopeGuard, options: Options
) -> tuple[dict[str, Any] | None, int | None]:
    """The hosts an interrupted discovery of the same scope, exclusions and ports finished
    enriching (ip -> Host), and its run id; (None, None) when the newest discovery ended
    whole or covered something else. A run stopped by a signal has them in its document;
    a run whose process died, in the rows its last checkpoint wrote."""
    from inventory import hosts as inventory_hosts
    from inventory.queries import hosts_as_of

    previous = inventory_hosts.latest_attempt(store)
    if not previous or not previous.get("interrupted") or not options.nmap:
        return None, None
    if any(previous.get(key) != value for key, value in _coverage(guard, options).items()):
        return None, None
    done = set(previous["interrupted"].get("enriched") or [])
    if previous.get("checkpoint"):
        found = [o.host for o in hosts_as_of(store, previous["run_id"])]
    else:
        found = [Host.from_json(h) for h in previous.get("hosts", [])]
    return {h.ip: h for h in found if h.ip in done}, previous.get("run_id")


def import_scan(
    store,
    path: str | Path,
    guard: ScopeGuard | None,
    *,
    operator: str,
    client: str | None = None,
) -> dict[str, Any]:
    """Take an existing nmap XML scan into the inventory as a discover run (no packets sent)."""
    from agent.discovery import nmapscan, run

    found, errors = nmapscan.import_xml(path)
    hosts, notes = run.from_import(found, guard)
    outcome = ScanOutcome(hosts=hosts, errors=[f"nmap: {e}" for e in errors], notes=notes)
    outcome.notes.insert(0, f"imported from {Path(path).name}")
    with store.run("discover", operator, client) as run_id:
        return _finish(store, run_id, guard, outcome, None)


# Management protocols that send the password in clear: (port, service name nmap gives).
CLEARTEXT_MANAGEMENT = {23: "telnet"}


def management_findings(hosts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``cleartext_management`` for every host with telnet open, whatever else it answers:
    a password typed there crosses the network in clear (and keyturn rotates over SSH
    only, unless a target asks for telnet explicitly)."""
    findings = []
    for host in hosts:
        open_ports = [
            p for p in host.get("ports") or []
            if p.get("state") == "open"
            and (p.get("port") in CLEARTEXT_MANAGEMENT or p.get("service") == "telnet")
        ]  # fmt: skip
        if open_ports:
            ports = ", ".join(f"{p.get('proto', 'tcp')}/{p['port']}" for p in open_ports)
            ssh = any(p.get("port") == 22 and p.get("state") == "open" for p in host["ports"])
            findings.append(
                {
                    "id": "cleartext_management",
                    "severity": "high",
                    "host": host["ip"],
                    "detail": f"telnet management open ({ports})"
                    + ("; SSH also answers" if ssh else "; no SSH: not rotated automatically"),
                }
            )
    return findings


def _finish(
    store,
    run_id: int,
    guard: ScopeGuard | None,
    outcome: ScanOutcome,
    options: Options | None,
    *,
    interrupted: dict[str, Any] | None = None,
    resumed_from: int | None = None,
) -> dict[str, Any]:
    from inventory import hosts as inventory_hosts

    status = "partial" if outcome.errors else "ok"
    summary = {
        "hosts": len(outcome.hosts),
        "errors": len(outcome.errors),
        "classes": dict(Counter(h.device_class for h in outcome.hosts)),
    }
    store.finish_run(run_id, status, summary)
    run = store.get_run(run_id)
    document: dict[str, Any] = {
        "run_id": run_id,
        "started": run.started,
        "finished": run.finished,
        "status": status,
        **_coverage(guard, options),
        "hosts": [h.to_json() for h in outcome.hosts],
        "errors": outcome.errors,
        "notes": outcome.notes,
        "stats": outcome.stats,
    }
    if interrupted:
        document["interrupted"] = interrupted
    if resumed_from:
        document["resumed_from"] = resumed_from
    document["findings"] = management_findings(document["hosts"])
    document["diff"] = inventory_hosts.diff(
        inventory_hosts.previous_document(store, before=run_id), document, outcome.hosts
    )
    inventory_hosts.save(store, run_id, document, outcome.hosts)
    return document
