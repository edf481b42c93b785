"""Service and OS enrichment planned the way nmap's own large-scan guidance has it.

1. Port discovery: one SYN scan of the configured ports over every live host, one retry, at
   the configured packet rate, in large host groups (``PORT_GROUP``) within one nmap process
   whose results are read as nmap writes them, a host group at a time
   (``nmapscan.StreamedScan``). A host that answers nothing on TCP (a firewalled Windows
   workstation) is done after this one pass: it never enters a service or OS scan, where it
   would cost a timeout chain.
2. Only hosts with an open TCP port go on: OS detection (-O, which scans the ports itself)
   as soon as nmap reports a host's first open port, and service detection (-sV) on just
   the ports that answered open once the host's group is done, as separate nmap processes
   side by side (``_Details``). UDP 161/5060 runs beside step 1 over every host (it is
   cheap and SNMP answers it whatever the community). ``after_ports`` then gets the hosts
   that answered either: the ones worth asking anything more (SNMP communities, for one).

Step 2 runs while step 1 scans on, and hosts are handed to ``on_group`` as soon as they are
final, so a caller can store them as it goes. Every target comes from the sweep and is
checked by the scope guard before nmap starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from agent.core.errors import KeyturnError
from agent.core.logsetup import get_logger
from agent.core.scope import ScopeGuard
from agent.discovery import nmapscan
from agent.discovery.model import Host

log = get_logger(__name__)

# nmap's host group in the port pass (--min-hostgroup): its guidance for large scans is 1024 or
# more; a group is also the unit a partial run keeps.
PORT_GROUP = 1024
# OS detection in groups of this many hosts, DETAIL_WORKERS nmap runs at a time: nmap's -O
# probes few hosts at once, so one run over a large group takes far longer than several
# small ones side by side (/16 lab: -O on 231 hosts in one run took 127 s).
OS_GROUP = 32
# Service detection scales across hosts within one run, but every -sV run first compiles
# nmap's ~12,000 match patterns (~0.6 s of CPU, ~0.25 s for -O): on the /16 lab's 350
# answering hosts, eleven 32-host runs spent ~7 s of CPU on that alone, on a 2-core machine
# that the port scan and -O keep busy. One run per this many hosts instead (32 hosts: 3.0 s,
# 0.9 s CPU; 128: 6.6 s, 1.6 s CPU).
SERVICE_GROUP = 128
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


@dataclass(frozen=True)
class Timed:
    """One detail run: its result, when it ran, over how many hosts."""

    run: nmapscan.NmapRun
    span: tuple[float, float]
    hosts: int


@dataclass
class Enrichment:
    hosts: dict[str, Host] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    stats: dict[str, StageStats] = field(default_factory=dict)

    # Each detail run's result once taken (None: it failed): one run serves many hosts.
    taken: dict[Future, nmapscan.NmapRun | None] = field(default_factory=dict)

    def stage(self, name: str) -> StageStats:
        return self.stats.setdefault(name, StageStats())

    def take(self, name: str, future: Future) -> nmapscan.NmapRun | None:
        """A detail run's result (None if it failed), its stats and errors recorded the
        first time it is taken."""
        if future in self.taken:
            return self.taken[future]
        try:
            timed = future.result()
        except KeyturnError as exc:
            self.errors.append(f"{name} scan: {exc}")
            self.taken[future] = None
            return None
        self.stage(name).add(timed.run, timed.span, timed.hosts)
        self.errors.extend(timed.run.errors)
        self.taken[future] = timed.run
        return timed.run


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
        details = _Details(result, pool, ports, rate, guard, set(local_ips), own, on_group)
        udp_runs: list[Future] = []
        answering: set[str] = set()
        arrivals = [lambda: ips] + ([later] if later else [])
        for arrival in arrivals:
            batch = [ip for ip in arrival() if ip not in own]
            if not batch:
                continue
            targets += batch
            udp_runs.append(side.submit(_timed, batch, udp_args(rate), guard))
            report("ports", scanned, len(targets))
            scan = nmapscan.StreamedScan(
                batch, discovery_args(ports, rate, group), guard, on_open=details.port_opened
            )
            began, done = time.monotonic(), scanned
            try:
                for part in scan:  # a host group at a time, as nmap finishes each
                    scanned += len(part.hosts)
                    report("ports", scanned, len(targets))
                    found = [h for h in nmapscan.hosts_from_nmap(part.raw) if h.ip not in own]
                    answered = [h for h in found if h.open_ports()]
                    answering.update(h.ip for h in answered)
                    if on_ports and answered:
                        on_ports(answered)  # what needs only the open ports starts now
                    details.ports_known(found)
                    report("services/OS", len(result.hosts), len(targets))
            except KeyturnError as exc:
                result.errors.append(f"port scan of {len(batch)} hosts: {exc}")
            scanned = done + len(batch)
            report("ports", scanned, len(targets))
            ended = time.monotonic()
            log.info("discover: port scan of %d hosts took %.2f s", len(batch), ended - began)
            result.stage("ports").add(scan.run, (began, ended), len(batch))
            result.errors.extend(scan.run.errors)
        udp_open: dict[str, list] = {}
        for udp in udp_runs:
            udp_open.update(_udp_open(result, udp))
        if after_ports and targets:
            order = {ip: index for index, ip in enumerate(targets)}
            after_ports(sorted(answering | set(udp_open) & set(order), key=order.__getitem__))
        for _ in details.finishing():
            report("services/OS", len(result.hosts), len(targets))
        for ip, udp_ports in udp_open.items():
            if ip in result.hosts:
                result.hosts[ip].ports += udp_ports
        if targets:
            report("services/OS", len(targets), len(targets))
    return result


class _Details:
    """Service and OS detection of the hosts that answered the port scan.

    -O scans the ports itself, so a host's OS run need not wait for its host group's port
    scan to end: it starts, ``OS_GROUP`` hosts at a time, as soon as nmap reports the
    host's first open port (``port_opened``; /16 lab: the first group's open ports show
    within seconds, its results ~10 s in). -sV probes only the ports that answered open,
    so it starts once a host's port scan is done (``ports_known``), ``SERVICE_GROUP`` hosts
    a run. A host is final, and delivered, once both its runs are done."""

    def __init__(
        self,
        result: Enrichment,
        pool: ThreadPoolExecutor,
        ports: str,
        rate: int | None,
        guard: ScopeGuard,
        local: set[str],
        own: set[str] | frozenset[str],
        on_group: GroupDone | None,
    ) -> None:
        self.result, self.pool, self.guard = result, pool, guard
        self.ports, self.rate, self.local, self.own = ports, rate, local, own
        self.on_group = on_group
        self.os_runs: dict[str, Future] = {}
        self.service_runs: dict[str, Future] = {}
        self.early: dict[str, None] = {}  # an open port seen, no OS run yet (in that order)
        self.waiting: dict[str, Host] = {}  # port scan done, details not yet

    def port_opened(self, found: list[tuple[str, int]]) -> None:
        for ip, _port in found:
            if ip not in self.os_runs and ip not in self.own:
                self.early[ip] = None
        while len(self.early) >= OS_GROUP:
            self._start_os(list(self.early)[:OS_GROUP])

    def ports_known(self, found: list[Host]) -> None:
        """Hosts whose port scan is done: the ones that answered go on to service detection
        (and OS detection, if it has not started); the others are final now."""
        answered = {h.ip: h for h in found if h.open_ports()}
        self._start_os([ip for ip in answered if ip not in self.os_runs])
        # nmap scans hosts behind a router in a host group of their own, after the local
        # ones: one service run per side instead, side by side.
        for side in self._sides(list(answered)):
            for first in range(0, len(side), SERVICE_GROUP):
                names = side[first : first + SERVICE_GROUP]
                open_ports = sorted({p for ip in names for p in answered[ip].open_ports()})
                args = _service_args(open_ports, self.rate)
                future = self.pool.submit(_timed, names, args, self.guard)
                self.service_runs.update(dict.fromkeys(names, future))
        self.waiting.update(answered)
        _deliver(self.result, [h for h in found if not h.open_ports()], self.on_group)
        self._finish_ready()

    def finishing(self) -> Iterator[None]:
        """Wait for every detail run, delivering hosts as their runs end (a step each)."""
        for future in dict.fromkeys([*self.os_runs.values(), *self.service_runs.values()]):
            wait([future])
            if self._finish_ready():
                yield None
        # An OS run whose hosts nmap's port scan then did not list still counts in the stats.
        for future in self.os_runs.values():
            self.result.take("os", future)

    def _start_os(self, names: list[str]) -> None:
        for ip in names:
            self.early.pop(ip, None)
        for side in self._sides(names):
            for first in range(0, len(side), OS_GROUP):
                group = side[first : first + OS_GROUP]
                future = self.pool.submit(
                    _timed, group, _os_args(self.ports, self.rate), self.guard
                )
                self.os_runs.update(dict.fromkeys(group, future))

    def _sides(self, names: list[str]) -> list[list[str]]:
        near = [ip for ip in names if ip in self.local]
        far = [ip for ip in names if ip not in self.local]
        return [side for side in (near, far) if side]

    def _finish_ready(self) -> bool:
        ready = [
            host
            for ip, host in self.waiting.items()
            if self.os_runs[ip].done() and self.service_runs[ip].done()
        ]
        for host in ready:
            del self.waiting[host.ip]
        _finish(self.result, ready, self.service_runs, self.os_runs, self.on_group)
        return bool(ready)


def _timed(targets: Sequence[str], args: str, guard: ScopeGuard) -> Timed:
    started = time.monotonic()
    run = nmapscan.run_nmap(list(targets), args, guard, count_packets=True)
    ended = time.monotonic()
    log.info("discover: nmap %s on %d hosts took %.2f s", args[:60], len(targets), ended - started)
    return Timed(run, (started, ended), len(targets))


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


def _finish(
    result: Enrichment,
    hosts: list[Host],
    services: dict[str, Future],
    systems: dict[str, Future],
    on_group: GroupDone | None,
) -> None:
    """Fold each host's service and OS runs into its port-scan record; deliver them."""
    for host in hosts:
        service_run = result.take("services", services[host.ip])
        os_run = result.take("os", systems[host.ip])
        scanned = service_run.hosts.get(host.ip) if service_run else None
        identified = nmapscan.hosts_from_nmap({"scan": {host.ip: scanned}}) if scanned else []
        detail = identified[0] if identified else None
        by_port = {(p.port, p.proto): p for p in detail.ports} if detail else {}
        # The port scan's states stand (it saw every configured port); -sV adds the names
        # where its own SYN scan saw the port the same way (under load it may miss one).
        host.ports = [
            seen if (seen := by_port.get((p.port, p.proto))) and seen.state == p.state else p
            for p in host.ports
        ]
        if detail and detail.http_title:
            host.http_title = detail.http_title
        # OS detection's match (near ties settled by the service banner), else the banner's
        # OS (-sV's cpe:/o, nmapscan.service_os). The -sV host's os is the banner's: -sV
        # runs without -O.
        banner = detail.os if detail else None
        matches = (os_run.hosts.get(host.ip) or {}).get("osmatch", []) if os_run else []
        host.os = nmapscan.best_os(matches, banner) or banner
    if hosts:
        _deliver(result, hosts, on_group)


def _deliver(result: Enrichment, hosts: list[Host], on_group: GroupDone | None) -> None:
    for host in hosts:
        result.hosts[host.ip] = host
    if on_group and hosts:
        on_group(hosts)


def _udp_open(result: Enrichment, udp: Future) -> dict[str, list]:
    """ip -> the UDP ports the UDP scan found open (its stats and errors recorded)."""
    run = result.take("udp", udp)
    if run is None:
        return {}
    found = {}
    for scanned in nmapscan.hosts_from_nmap(run.raw):
        ports = [p for p in scanned.ports if p.state == "open"]
        if ports:
            found[scanned.ip] = ports
    return found
