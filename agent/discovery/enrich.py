"""Service and OS enrichment planned the way nmap's own large-scan guidance has it.

1. Port discovery: one SYN scan of the configured ports over every live host, in large host
   groups (``PORT_GROUP`` hosts per nmap run), one retry, at the configured packet rate.
   A host that answers nothing on TCP (a firewalled Windows workstation) is done after this
   one pass: it never enters a service or OS scan, where it would cost a timeout chain.
2. Only hosts with an open TCP port go on: service detection (-sV) on just the ports that
   answered open, and OS detection (-O) side by side, as two nmap processes.
   UDP 161/5060 runs beside step 1 over every host (it is cheap and SNMP answers it
   whatever the community). ``after_ports`` then gets the hosts that answered either:
   the ones worth asking anything more (SNMP communities, for one).

Step 2 of one host group runs while step 1 scans the next, and every group's hosts are
handed to ``on_group`` as soon as they are known, so a caller can store them as it goes.
Every target comes from the sweep and is checked by the scope guard in ``run_nmap``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from agent.core.errors import KeyturnError
from agent.core.logsetup import get_logger
from agent.core.scope import ScopeGuard
from agent.discovery import nmapscan
from agent.discovery.model import Host

log = get_logger(__name__)

# Hosts per port-discovery run: nmap's guidance for large scans is host groups of 1024 or
# more; a group is also the unit a partial run keeps.
PORT_GROUP = 1024
# Service and OS detection in groups of this many hosts, DETAIL_WORKERS nmap runs at a time:
# nmap's -O probes few hosts at once, so one run over a large group takes far longer than
# several small ones side by side (/16 lab: -O on 231 hosts in one run took 127 s).
DETAIL_GROUP = 32
DETAIL_WORKERS = 4
# With "max" rate nmap still needs a floor on silent hosts (as for the routed sweep).
MAX_RATE_FLOOR = nmapscan.ROUTED_MAX_RATE
# UDP gets a tenth of the packet budget: two ports per host against ~100 TCP ones.
UDP_SHARE = 10

# The hosts of a group: with open ports known (on_ports), or final (on_group); progress.
GroupDone = Callable[[list[Host]], None]
Tick = Callable[[str, int, int], None]


@dataclass
class StageStats:
    """One enrichment stage across its nmap runs (the run document's ``stats``)."""

    hosts: int = 0
    seconds: float = 0.0  # from the first run's start to the last one's end
    started: float | None = None
    ended: float = 0.0
    packets_sent: int = 0
    packets_received: int = 0
    runs: int = 0

    def add(self, run: nmapscan.NmapRun, span: tuple[float, float], hosts: int) -> None:
        self.runs += 1
        self.hosts += hosts
        self.started = min(span[0], self.started or span[0])
        self.ended = max(span[1], self.ended)
        self.seconds = round(self.ended - self.started, 3)
        self.packets_sent += run.packets_sent
        self.packets_received += run.packets_received

    def to_json(self, configured_rate: int | str | None = None) -> dict:
        data = {
            "hosts": self.hosts,
            "nmap_runs": self.runs,
            "seconds": self.seconds,
            "packets_sent": self.packets_sent,
            "packets_received": self.packets_received,
            "achieved_rate": round(self.packets_sent / self.seconds) if self.seconds else 0,
        }
        if configured_rate is not None:
            data["configured_rate"] = configured_rate
        return data


@dataclass
class Enrichment:
    hosts: dict[str, Host] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    stats: dict[str, StageStats] = field(default_factory=dict)

    def stage(self, name: str) -> StageStats:
        return self.stats.setdefault(name, StageStats())


def discovery_args(ports: str, rate: int | None, group: int) -> str:
    """nmap arguments of the port-discovery pass."""
    pace = f"--min-rate {rate} --max-rate {rate}" if rate else f"--min-rate {MAX_RATE_FLOOR}"
    return (
        f"-n -Pn -sS -T4 --max-retries 1 --min-hostgroup {group} {pace} {nmapscan.port_args(ports)}"
    )


def udp_args(rate: int | None) -> str:
    # A floor as well as a cap: without one nmap paces UDP by the few answers it gets
    # (4064 hosts, mostly silent: 186 s at ~150 packets/s).
    share = max(100, (rate or MAX_RATE_FLOOR) // UDP_SHARE)
    return f"{nmapscan.UDP_ARGS} --min-rate {share} --max-rate {share}"


def enrich(
    ips: Sequence[str],
    ports: str,
    guard: ScopeGuard,
    *,
    rate: int | None,
    own: set[str] | frozenset[str] = frozenset(),
    local_ips: Sequence[str] = (),
    later: Callable[[], Sequence[str]] | None = None,
    group: int = PORT_GROUP,
    on_ports: GroupDone | None = None,
    on_group: GroupDone | None = None,
    after_ports: Callable[[list[str]], None] | None = None,
    tick: Tick | None = None,
) -> Enrichment:
    """Ports, services and OS of ``ips`` (live, cleared by the scope guard); see the module.
    ``later`` gives the addresses that become known while ``ips`` are scanned (the routed
    sweep's, which takes longer than ARP): it is called once the port pass over ``ips`` is
    done, and may block until they are known."""
    result = Enrichment()
    report = tick or (lambda *_args: None)
    targets: list[str] = []
    scanned = 0
    with (
        ThreadPoolExecutor(1, thread_name_prefix="udp") as side,
        ThreadPoolExecutor(DETAIL_WORKERS, thread_name_prefix="detail") as pool,
    ):
        udp_runs: list[Future] = []
        pending: list[tuple[list[Host], Future, Future]] = []
        local = set(local_ips)
        answering: set[str] = set()
        arrivals = [lambda: ips] + ([later] if later else [])
        for arrival in arrivals:
            batch = [ip for ip in arrival() if ip not in own]
            if not batch:
                continue
            targets += batch
            udp_runs.append(side.submit(_timed, batch, udp_args(rate), guard))
            for start in range(0, len(batch), group):
                chunk = batch[start : start + group]
                report("ports", scanned, len(targets))
                try:
                    run, took = _timed(chunk, discovery_args(ports, rate, group), guard)
                except KeyturnError as exc:
                    result.errors.append(f"port scan of {len(chunk)} hosts: {exc}")
                    continue
                finally:
                    scanned += len(chunk)
                    report("ports", scanned, len(targets))
                result.stage("ports").add(run, took, len(chunk))
                result.errors.extend(run.errors)
                found = [h for h in nmapscan.hosts_from_nmap(run.raw) if h.ip not in own]
                answered = [h for h in found if h.open_ports()]
                answering.update(h.ip for h in answered)
                if on_ports and answered:
                    on_ports(answered)  # what needs only the open ports starts now
                # nmap scans hosts behind a router in a host group of their own, after the
                # local ones: one service and one OS run per side instead, all side by side.
                for near in (True, False):
                    hosts = [h for h in answered if (h.ip in local) == near]
                    for first in range(0, len(hosts), DETAIL_GROUP):
                        details = hosts[first : first + DETAIL_GROUP]
                        pending.append((details, *_details(pool, details, ports, rate, guard)))
                report("services/OS", len(result.hosts), len(targets))
                # Hosts without an open port are final now; the others wait for their details.
                _deliver(result, [h for h in found if not h.open_ports()], on_group)
                while pending and pending[0][1].done() and pending[0][2].done():
                    _finish_group(result, *pending.pop(0), on_group)
                    report("services/OS", len(result.hosts), len(targets))
        udp_open: dict[str, list] = {}
        for udp in udp_runs:
            udp_open.update(_udp_open(result, udp))
        if after_ports and targets:
            order = {ip: index for index, ip in enumerate(targets)}
            after_ports(sorted(answering | set(udp_open) & set(order), key=order.__getitem__))
        for entry in pending:
            _finish_group(result, *entry, on_group)
            report("services/OS", len(result.hosts), len(targets))
        for ip, udp_ports in udp_open.items():
            if ip in result.hosts:
                result.hosts[ip].ports += udp_ports
        if targets:
            report("services/OS", len(targets), len(targets))
    return result


def _details(
    pool: ThreadPoolExecutor, hosts: list[Host], ports: str, rate: int | None, guard: ScopeGuard
) -> tuple[Future, Future]:
    """Service detection on the ports that answered open, and OS detection, side by side."""
    open_ports = sorted({p for h in hosts for p in h.open_ports()})
    names = [h.ip for h in hosts]
    return (
        pool.submit(_timed, names, _service_args(open_ports, rate), guard),
        pool.submit(_timed, names, _os_args(ports, rate), guard),
    )


def _timed(
    targets: Sequence[str], args: str, guard: ScopeGuard
) -> tuple[nmapscan.NmapRun, tuple[float, float]]:
    started = time.monotonic()
    run = nmapscan.run_nmap(list(targets), args, guard, count_packets=True)
    ended = time.monotonic()
    log.info("discover: nmap %s on %d hosts took %.2f s", args[:60], len(targets), ended - started)
    return run, (started, ended)


def _service_args(open_ports: list[int], rate: int | None) -> str:
    # Only ports that answered open: the SYN scan nmap repeats before -sV is then one probe
    # per open port, with no wait on filtered ones.
    args = f"{nmapscan.SERVICE_ARGS} -p {','.join(map(str, open_ports))}"
    probes = nmapscan.quick_probe_file()
    if probes:
        args += f" --versiondb {probes}"
    return args + (f" --max-rate {rate}" if rate else "")


def _os_args(ports: str, rate: int | None) -> str:
    # The configured ports, not only the open ones: -O needs a closed port per host too,
    # and which ones are closed is not listed when they are the majority state.
    return f"{nmapscan.OS_ARGS} {nmapscan.port_args(ports)}" + (
        f" --max-rate {rate}" if rate else ""
    )


def _finish_group(
    result: Enrichment,
    found: list[Host],
    services: Future,
    systems: Future,
    on_group: GroupDone | None,
) -> None:
    """Fold the service and OS runs into the port-scan hosts they covered; deliver them."""
    answered = found
    detail: dict[str, Host] = {}
    os_matches: dict[str, list] = {}
    for name, future in (("services", services), ("os", systems)):
        try:
            run, took = future.result()
        except KeyturnError as exc:
            result.errors.append(f"{name} scan of {len(answered)} hosts: {exc}")
            continue
        result.stage(name).add(run, took, len(answered))
        result.errors.extend(run.errors)
        if name == "services":
            detail.update((host.ip, host) for host in nmapscan.hosts_from_nmap(run.raw))
        else:
            os_matches.update(
                (ip, data.get("osmatch", [])) for ip, data in run.raw.get("scan", {}).items()
            )
    for host in answered:
        identified = (
            {(p.port, p.proto): p for p in detail[host.ip].ports} if host.ip in detail else {}
        )
        # The port scan's states stand (it saw every configured port); -sV adds the names
        # where its own SYN scan saw the port the same way (under load it may miss one).
        host.ports = [
            seen if (seen := identified.get((p.port, p.proto))) and seen.state == p.state else p
            for p in host.ports
        ]
        if host.ip in detail and detail[host.ip].http_title:
            host.http_title = detail[host.ip].http_title
        # OS detection's match (near ties settled by the service banner), else the banner's
        # OS (-sV's cpe:/o, nmapscan.service_os). The -sV host's os is the banner's: -sV
        # runs without -O.
        banner = detail[host.ip].os if host.ip in detail else None
        host.os = nmapscan.best_os(os_matches.get(host.ip, []), banner) or banner
    _deliver(result, answered, on_group)


def _deliver(result: Enrichment, hosts: list[Host], on_group: GroupDone | None) -> None:
    for host in hosts:
        result.hosts[host.ip] = host
    if on_group and hosts:
        on_group(hosts)


def _udp_open(result: Enrichment, udp: Future) -> dict[str, list]:
    """ip -> the UDP ports the UDP scan found open (its stats and errors recorded)."""
    try:
        run, took = udp.result()
    except KeyturnError as exc:
        result.errors.append(f"UDP scan: {exc}")
        return {}
    result.stage("udp").add(run, took, len(run.hosts))
    result.errors.extend(run.errors)
    found = {}
    for scanned in nmapscan.hosts_from_nmap(run.raw):
        ports = [p for p in scanned.ports if p.state == "open"]
        if ports:
            found[scanned.ip] = ports
    return found
