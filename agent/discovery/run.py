"""One discovery: privilege check, sweeps (ARP on local segments, nmap ping when routed),
enrichment, names, SNMP and classification. Packets only ever go to addresses the scope
guard allowed; failures of one stage are recorded and the others go on.

Stages that mostly wait on the network run side by side: the routed nmap sweep with the ARP
sweeps; reverse DNS and SNMP with the nmap enrichment; HTTP titles with the NetBIOS scan.
Results are merged in a fixed order, so a host's names come out the same whatever finishes
first.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.core.errors import KeyturnError
from agent.core.logsetup import get_logger
from agent.core.scope import ScopeGuard, address_key
from agent.core.secret import Secret

# nmapscan, http and snmp are imported by the stages that use them: a sweep-only run does
# not pay for them (ssl alone is ~5 ms).
from agent.discovery import arp, classify, names
from agent.discovery.interfaces import Interface, neighbour_table_limit
from agent.discovery.model import Host
from agent.discovery.plan import Plan, plan

log = get_logger(__name__)

# stage, done, total, found
Progress = Callable[[str, int, int, int], None]


@dataclass
class Options:
    iface: str | None = None
    rate: int | None = 3000  # None: as fast as the socket takes frames
    ports: str = "top100"
    nmap: bool = True
    communities: Sequence[str | Secret] = ()
    retries: int = 2


@dataclass
class ScanOutcome:
    """What one discovery found (before it is stored): hosts, errors, notes, timings.

    ``live`` and ``enriched`` grow while the scan runs (every swept host; the addresses whose
    port, service and OS scan is done), so an interrupted run still has what it found.
    """

    hosts: list[Host] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    live: dict[str, Host] = field(default_factory=dict)
    enriched: set[str] = field(default_factory=set)
    stage: str = "plan"
    # Called with hosts as the sweep finds them and as their enrichment ends (the caller
    # stores them: agent/discovery/__init__.py's checkpoint). Main thread only.
    on_hosts: Callable[[list[Host]], None] = lambda _hosts: None

    def settle(self) -> None:
        """Classify every live host and list them in address order (the run's hosts)."""
        ordered = sorted(self.live, key=address_key)
        for ip in ordered:
            classify.apply(self.live[ip])
        self.hosts = [self.live[ip] for ip in ordered]


# The most live hosts SNMP asks all at once, beside the port scan (see _discover).
SNMP_EARLY_MAX = 512
# Set while packets go out: only then does a signal interrupt a discovery (agent/ops).
SCANNING = threading.Event()


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, SIGTERM or a timeout's signal stopped a discovery; what it found is kept."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Stages:
    """Times each stage (``-v`` logs it; the run's stats keep it). Stages that run side by
    side each report their own duration."""

    def __init__(self, stats: dict[str, Any]) -> None:
        self.seconds: dict[str, float] = stats.setdefault("stage_seconds", {})

    def timed(self, stage: str, work: Callable[..., Any], *args: Any) -> Any:
        started = time.monotonic()
        try:
            return work(*args)
        finally:
            took = time.monotonic() - started
            self.seconds[stage] = round(took, 3)
            log.info("discover: %s took %.2f s", stage, took)


def discover(
    guard: ScopeGuard,
    options: Options,
    progress: Progress | None = None,
    planned: Plan | None = None,
    *,
    outcome: ScanOutcome | None = None,
    resume: dict[str, Host] | None = None,
    swept: Callable[[], None] | None = None,
) -> ScanOutcome:
    """Sweep, enrich, name and classify. ``outcome`` is filled as the scan goes (give one to
    keep what was found when :class:`Interrupted` ends it); ``resume``: hosts an interrupted
    run already enriched, taken over for every address that answers from the same MAC;
    ``swept``: called when the ARP sweeps are done, before any host is handed on."""
    planned = planned or plan(guard, options.iface)
    outcome = outcome if outcome is not None else ScanOutcome()
    SCANNING.set()
    try:
        return _discover(guard, options, report=progress or (lambda *_args: None),
                         planned=planned, outcome=outcome, resume=resume,
                         swept=swept or (lambda: None))  # fmt: skip
    finally:
        SCANNING.clear()


def _discover(
    guard: ScopeGuard,
    options: Options,
    *,
    report: Progress,
    planned: Plan,
    outcome: ScanOutcome,
    resume: dict[str, Host] | None,
    swept: Callable[[], None],
) -> ScanOutcome:
    if planned.unreachable:
        outcome.notes.append(
            f"{len(planned.unreachable)} addresses in scope have no IPv4 route from here or are "
            f"IPv6 (first {planned.unreachable[0]}): not swept"
        )
    stages = _Stages(outcome.stats)
    hosts = outcome.live
    outcome.stage = "sweep"

    with concurrent.futures.ThreadPoolExecutor(3, thread_name_prefix="discover") as side:
        # Parsing the rule table (~12 ms) fits in the sweep's waits for replies.
        side.submit(classify.default_rules)
        routed = None
        if planned.routed:
            report("ping sweep (routed)", 0, len(planned.routed), 0)
            routed = side.submit(
                stages.timed, "routed", _routed_sweep, planned, guard, options.rate
            )
        for name, (interface, targets) in planned.local.items():
            stages.timed(
                f"arp:{name}", _arp_sweep, name, interface, targets, options, hosts, outcome,
                report,
            )  # fmt: skip
        swept()
        outcome.stage = "enrichment"
        names_found: list[concurrent.futures.Future] = []
        snmp_answers: list[concurrent.futures.Future] = []
        snmp_asked: set[str] = set()
        taken: list[str] = []  # hosts whose details a resumed run took over

        def start_snmp(targets: list[str]) -> None:
            targets = [ip for ip in targets if ip not in snmp_asked]
            snmp_asked.update(targets)
            if options.communities and targets:
                report("SNMP", 0, len(targets), len(hosts))
                snmp_answers.append(side.submit(
                    stages.timed, "snmp", _snmp, targets, options.communities, guard, report
                ))  # fmt: skip

        def arrived(ips: list[str]) -> list[str]:
            """Hosts a sweep just found: names and SNMP start beside the scan; returns the
            ones still to enrich."""
            if not ips:
                return []
            for ip in ips:
                hosts[ip].vendor = names.vendor(hosts[ip].mac)
                hosts[ip].mac_randomized = names.mac_randomized(hosts[ip].mac)
            taken.extend(_take_over(hosts, ips, resume, outcome))
            names_found.append(side.submit(stages.timed, "reverse_dns", names.reverse_dns, ips))
            # Up to SNMP_EARLY_MAX live hosts SNMP asks them all beside the port scan.
            # Beyond, it asks only the hosts that answered nmap's port or UDP scan (an agent
            # answers nmap's SNMPv3 probe whatever its community), once that is known: SNMP
            # goes through the kernel's UDP socket, and a neighbour entry for each of
            # thousands of silent hosts (the table holds 1024 by default) lost the /16 lab
            # both port-scan and SNMP answers.
            if len(hosts) <= SNMP_EARLY_MAX or not options.nmap:
                start_snmp(ips)
            outcome.on_hosts([hosts[ip] for ip in ips])
            return [ip for ip in ips if ip not in outcome.enriched]

        routed_taken: list[bool] = []

        def fold_routed() -> list[str]:
            """The routed sweep's hosts (waiting for it: it takes longer than ARP, and the
            local hosts' port scan runs meanwhile); returns the ones new here."""
            if routed is None or routed_taken:
                return []
            routed_taken.append(True)
            try:
                live, errors = routed.result()
            except KeyturnError as exc:
                outcome.errors.append(f"routed sweep: {exc}")
                return []
            outcome.errors.extend(f"nmap ping sweep: {e}" for e in errors)
            new = sorted((ip for ip in live if ip not in hosts), key=address_key)
            for ip, reason in live.items():
                hosts.setdefault(ip, Host(ip=ip)).add_source(reason)
            report("ping sweep (routed)", len(planned.routed), len(planned.routed), len(hosts))
            return new

        # A routed sweep already done (the ARP sweep of a /16 takes seconds) goes first:
        # nmap scans routed hosts as a host group of their own anyway, and first, their
        # service and OS scans run beside the local hosts' port scan instead of after it.
        first = fold_routed() if routed is not None and routed.done() else []
        rest = sorted(set(hosts).difference(first), key=address_key)
        to_enrich = arrived(first + rest)
        outcome.notes.extend(neighbour_table_notes(len(hosts), neighbour_table_limit()))

        ports_known: list[bool] = []

        def answering(answered: list[str]) -> None:
            """Hosts the port scan found answering (a group's, then every one's): SNMP."""
            ports_known.append(True)
            # Hosts a resumed run took over are asked too when they answered before.
            before = [ip for ip in taken if any(p.state == "open" for p in hosts[ip].ports)]
            start_snmp(sorted(set(before).union(answered), key=address_key))

        if options.nmap:
            try:
                stages.timed(
                    "nmap", _enrich, hosts, to_enrich, lambda: arrived(fold_routed()), guard,
                    options, planned.own, outcome, report, answering,
                )  # fmt: skip
            except Interrupted:
                # A partial run keeps every host swept, the routed ones too when their sweep
                # had finished (its nmap is stopped otherwise).
                fold_routed()
                raise
            if not ports_known:  # the port scan could not run (or had nothing left to scan)
                start_snmp(sorted(hosts, key=address_key))
        else:
            arrived(fold_routed())
            outcome.notes.append("nmap enrichment skipped (--no-nmap)")
        if resume is not None:  # resuming, even when the interrupted run finished no host
            outcome.notes.append(
                f"resumed an interrupted run: {len(taken)} hosts' ports, services and OS "
                f"taken from it, {len(hosts) - len(taken)} scanned now"
            )
            outcome.stats["resumed_hosts"] = len(taken)

        for future in names_found:
            found_names, note = future.result()
            if note and note not in outcome.notes:  # once, not per batch of hosts
                outcome.notes.append(note)
            for ip, name in found_names.items():
                hosts[ip].add_hostname(name)
        for future in snmp_answers:
            answers, error = future.result()
            if error:
                outcome.errors.append(error)
            for ip, values in answers.items():
                hosts[ip].snmp = values
                hosts[ip].add_source("snmp")
                if values.get("sys_name"):
                    hosts[ip].add_hostname(values["sys_name"])
    outcome.notes.append("mDNS names not queried")
    outcome.stage = "done"
    outcome.settle()
    return outcome


def neighbour_table_notes(live: int, limit: int | None) -> list[str]:
    """A note when the LAN's live hosts may not fit the kernel's neighbour table (``limit``
    entries): the scan's connections, SNMP requests and the kernel's RSTs to nmap's SYN-ACKs
    each need an entry, and past the limit the kernel drops them (answers lost, no error)."""
    if limit is None or live <= limit // 2:
        return []
    wanted = 1 << max(12, (4 * live - 1).bit_length())
    return [
        f"{live} live hosts against a kernel neighbour table of {limit} entries "
        f"(net.ipv4.neigh.default.gc_thresh3): answers may be lost when it overflows; for a "
        f"scan this size raise it first (sysctl -w net.ipv4.neigh.default.gc_thresh2="
        f"{wanted // 2} net.ipv4.neigh.default.gc_thresh3={wanted})"
    ]


def _take_over(
    hosts: dict[str, Host],
    ips: list[str],
    resume: dict[str, Host] | None,
    outcome: ScanOutcome,
) -> list[str]:
    """Fold in what an interrupted run learnt about hosts that still answer from the same
    MAC (they count as enriched); return those taken over."""
    taken = []
    for ip in ips:
        earlier = (resume or {}).get(ip)
        if earlier is not None and (earlier.mac or None) == (hosts[ip].mac or None):
            merge(hosts[ip], earlier)
            outcome.enriched.add(ip)
            taken.append(ip)
    return taken


def _arp_sweep(
    name: str,
    interface: Interface,
    targets: list[int],
    options: Options,
    hosts: dict[str, Host],
    outcome: ScanOutcome,
    report: Progress,
) -> None:
    def tick(sent: int, total: int, found: int) -> None:
        report(f"ARP sweep {name}", sent, total, found)

    result = arp.sweep(
        interface, targets, rate=options.rate, retries=options.retries, progress=tick
    )
    outcome.stats[f"arp:{name}"] = {
        "targets": len(targets),
        "sent": result.sent,
        "found": len(result.replies),
        "seconds": round(result.elapsed, 3),
        "configured_rate": options.rate or "max",
        "achieved_rate": round(result.achieved_rate),
        # What the quiet period after the last request was derived from.
        "slowest_reply_ms": round(result.slowest_reply * 1000, 2),
    }
    for ip, mac in result.replies.items():
        host = hosts.setdefault(ip, Host(ip=ip))
        host.mac = mac
        host.add_source("arp")
    for ip, macs in result.conflicts.items():
        outcome.errors.append(f"{ip} answered ARP from several MACs: {', '.join(macs)}")


def _routed_sweep(
    planned: Plan, guard: ScopeGuard, rate: int | None
) -> tuple[dict[str, str], list[str]]:
    from agent.discovery import nmapscan

    networks = list(ipaddress.collapse_addresses(planned.routed))
    return nmapscan.routed_sweep(networks, guard, planned.own, rate)


def _snmp(
    ips: list[str], communities: Sequence[str | Secret], guard: ScopeGuard, report: Progress
) -> tuple[dict[str, dict], str | None]:
    from agent.discovery import snmp

    try:
        answers = snmp.query(ips, communities, guard)
    except OSError as exc:
        return {}, f"SNMP: {exc}"
    report("SNMP", len(ips), len(ips), len(answers))
    return answers, None


def _enrich(
    hosts: dict[str, Host],
    live_ips: list[str],
    later: Callable[[], list[str]],
    guard: ScopeGuard,
    options: Options,
    own: set[str],
    outcome: ScanOutcome,
    report: Progress,
    answering: Callable[[list[str]], None],
) -> None:
    """Ports, services and OS (agent/discovery/enrich.py); NetBIOS names of a host group as
    soon as its open ports are known and HTTP titles once its services are, beside the
    rest of the scan."""
    from agent.discovery import enrich, http

    def tick(stage: str, done: int, total: int) -> None:
        report(f"nmap {stage}", done, total, len(hosts))

    pages: list[concurrent.futures.Future] = []
    netbios: list[concurrent.futures.Future] = []
    with concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="names") as pool:

        def on_ports(group: list[Host]) -> None:
            smb = [h.ip for h in group if h.open_ports() & {139, 445}]
            if smb:
                netbios.append(pool.submit(_netbios, smb, guard))
            # SNMP asks a port group's answering hosts now, beside the next group's port
            # scan; hosts that answered only UDP 161 are asked once the UDP scan is done.
            answering([h.ip for h in group])

        def on_group(group: list[Host]) -> None:
            # Merged at once: an interrupted run keeps every host group finished so far.
            for scanned in group:
                if scanned.ip in hosts:
                    merge(hosts[scanned.ip], scanned)
                    outcome.enriched.add(scanned.ip)
            outcome.on_hosts([hosts[s.ip] for s in group if s.ip in hosts])
            # Web ports are known by the service scan's names: titles come after it.
            pages.append(pool.submit(http.pages, group, guard))

        try:
            result = enrich.enrich(
                live_ips, options.ports, guard, rate=options.rate, own=own,
                local_ips=[ip for ip in live_ips if "arp" in hosts[ip].sources], later=later,
                on_ports=on_ports, on_group=on_group, after_ports=answering, tick=tick,
            )  # fmt: skip
        except KeyturnError as exc:
            outcome.errors.append(f"nmap enrichment: {exc}")
            return
        outcome.errors.extend(f"nmap: {e}" for e in result.errors)
        for name, stage in result.stats.items():
            outcome.stats[f"nmap:{name}"] = stage.to_json(
                (options.rate or "max") if name in ("ports", "udp") else None
            )
        for ip, scanned in result.hosts.items():
            if ip in hosts:
                merge(hosts[ip], scanned)
        for future in netbios:
            names_found, errors = future.result()
            outcome.errors.extend(errors)
            for ip, name in names_found.items():
                hosts[ip].add_hostname(name)
        for future in pages:
            for ip, page in future.result().items():
                hosts[ip].http_title = page.title
                port = next(p for p in hosts[ip].ports if p.port == page.port and p.proto == "tcp")
                # nmap names the product of an HTTP server it has no signature for by its
                # Server header ("lighttpd", "HP HTTP Server; HP LaserJet ...") only with a
                # full -sV.
                port.product = port.product or page.server


def _netbios(ips: list[str], guard: ScopeGuard) -> tuple[dict[str, str], list[str]]:
    """NetBIOS names of hosts that serve SMB (nmap's nbstat over 137/udp)."""
    from agent.discovery import nmapscan

    try:
        found, errors = nmapscan.netbios_names(ips, guard)
    except KeyturnError as exc:
        return {}, [f"NetBIOS names: {exc}"]
    return found, [f"nmap nbstat: {e}" for e in errors]


def merge(host: Host, scanned: Host) -> None:
    """Fold nmap's view of a host into what the sweep saw (the sweep's MAC wins)."""
    if host is scanned:
        return
    host.add_source("nmap")
    host.mac = host.mac or scanned.mac
    host.ports = scanned.ports
    host.os = scanned.os
    host.http_title = scanned.http_title or host.http_title
    for name in scanned.hostnames:
        host.add_hostname(name)


def from_import(found: dict[str, Host], guard: ScopeGuard | None) -> tuple[list[Host], list[str]]:
    """Hosts of an imported nmap XML scan, limited to the scope when one is configured."""
    notes = []
    kept = []
    for ip in sorted(found, key=address_key):
        host = found[ip]
        if guard is not None and not guard.allows(ip):
            notes.append(f"{ip} in the imported scan is outside the scope: left out")
            continue
        host.vendor = names.vendor(host.mac) or host.vendor
        host.mac_randomized = names.mac_randomized(host.mac)
        classify.apply(host)
        kept.append(host)
    return kept, notes
