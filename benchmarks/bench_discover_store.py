"""The cost per host of a discover run after the scan: classifying, building the document,
diffing it against the previous run, storing it (hosts, observations, services, document),
prefilling the checklist and writing the JSON, on synthetic hosts (no network, no lab).

Each size is measured twice on one store: a first run (every host new) and a second run
over the same hosts with ~5% changed (a MAC, a port, a name), the usual re-scan. Prints one
row per size and step: wall and CPU milliseconds, CPU microseconds per host (CPU time is the
figure to compare on a shared machine).

Usage: .venv/bin/python benchmarks/bench_discover_store.py [--sizes 1000,4000,20000]
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import tempfile
import time
from pathlib import Path

from agent.core.jsontext import indented
from agent.core.scope import ScopeGuard
from agent.discovery import _finish
from agent.discovery.model import Host, Port
from agent.discovery.run import ScanOutcome
from inventory.store import Store

SCOPE = "10.0.0.0/8"
OUIS = ("00:14:22", "3c:d9:2b", "00:1b:21", "00:15:5d", "00:00:0c", "24:a4:3c")


def synthetic_hosts(count: int, seed: int, changed: float = 0.0) -> list[Host]:
    """``count`` hosts: most silent to TCP (sweep only), one in eight with a few services."""
    rng = random.Random(seed)
    hosts = []
    base = int(ipaddress.ip_address("10.0.0.1"))
    for index in range(count):
        ip = str(ipaddress.ip_address(base + index))
        oui = OUIS[index % len(OUIS)]
        mac = f"{oui}:{index >> 16 & 255:02x}:{index >> 8 & 255:02x}:{index & 255:02x}"
        host = Host(ip=ip, mac=mac, sources=["arp"])
        if index % 8 == 0:
            host.sources.append("nmap")
            host.ports = [
                Port(22, "tcp", "open", "ssh", "OpenSSH", "9.2p1"),
                Port(80, "tcp", "open", "http", "nginx", None),
                Port(443, "tcp", "closed", "https"),
            ]
            host.os = {"name": "Linux 5.x", "accuracy": 95, "type": "general purpose",
                       "vendor": "Linux", "family": "Linux"}  # fmt: skip
            host.hostnames = [f"srv{index}.corp.example"]
        if changed and rng.random() < changed:
            kind = rng.randrange(3)
            if kind == 0:
                host.mac = "02:00:00" + mac[8:]
            elif kind == 1:
                host.ports = [*host.ports, Port(3389, "tcp", "open", "ms-wbt-server")]
            else:
                host.hostnames = [f"renamed{index}"]
        hosts.append(host)
    return hosts


def one_run(
    store: Store, guard: ScopeGuard, hosts: list[Host], out: Path
) -> dict[str, tuple[float, float]]:
    """step -> (wall, CPU) seconds. CPU time is the figure to compare on a shared machine:
    it does not grow when other processes take the cores."""
    from agent.discovery import classify
    from agent.discovery.run import Options
    from inventory import checklist
    from rotation.drivers import DRIVERS

    timings: dict[str, tuple[float, float]] = {}

    def clock() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    def since(start: tuple[float, float]) -> tuple[float, float]:
        now = clock()
        return now[0] - start[0], now[1] - start[1]

    started = clock()
    for host in hosts:
        classify.apply(host)
    timings["classify"] = since(started)
    with store.run("discover", "bench", "bench") as run_id:
        outcome = ScanOutcome(hosts=hosts)
        started = clock()
        document = _finish(store, run_id, guard, outcome, Options())
        timings["store+diff"] = since(started)
    started = clock()
    checklist.prefill(store, discover_run=run_id, run_id=run_id, platforms=sorted(DRIVERS))
    timings["checklist"] = since(started)
    started = clock()
    out.write_text(indented(document, sort_keys=True))  # what --json writes
    timings["json"] = since(started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,4000,20000")
    args = parser.parse_args()
    guard = ScopeGuard([SCOPE], [], allow_public=False)
    print(f"{'hosts':>7} {'run':<7}{'step':<12}{'wall ms':>9}{'CPU ms':>9}{'CPU us/host':>13}")
    with tempfile.TemporaryDirectory(prefix="bench-store-") as folder:
        for size in (int(s) for s in args.sizes.split(",")):
            store = Store(Path(folder) / f"s{size}.db")
            for label, hosts in (
                ("first", synthetic_hosts(size, 1)),
                ("again", synthetic_hosts(size, 1, changed=0.05)),
            ):
                timings = one_run(store, guard, hosts, Path(folder) / "out.json")
                timings["total"] = (
                    sum(w for w, _c in timings.values()),
                    sum(c for _w, c in timings.values()),
                )
                for step, (wall, cpu) in timings.items():
                    print(f"{size:>7} {label:<7}{step:<12}{wall * 1000:>9.1f}{cpu * 1000:>9.1f}"
                          f"{cpu * 1e6 / size:>13.1f}")  # fmt: skip
            store.close()


if __name__ == "__main__":
    main()
