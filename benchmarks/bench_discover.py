"""Discovery against its peers, all inside a lab this script brings up (and takes down).

Sweeps: keyturn's ARP sweep (the whole `keyturn discover --no-nmap` process, and its sweep
stage alone) against arp-scan and nmap -sn -PR on the small lab's /24 and, with --large, on
the large lab's /16 (~4000 ARP-live addresses), with achieved against configured rate.
Enrichment (--enrich): `keyturn discover` end to end against plain
`nmap -sS -sV -O --top-ports 100` on the same live hosts, and whether they found the same
services; with --large also keyturn's full discover of the /16 against nmap's port scan of
it and nmap -sV -O on the live set. Tools run alternately (one run each per round; the
machine's 2 cores are shared), and ratios are of medians. Prints one table per section.

Usage (root): .venv/bin/python benchmarks/bench_discover.py [--runs 3] [--large] [--enrich]
    [--plain-runs 1]
       .venv/bin/python benchmarks/bench_discover.py --large --enrich --runs 3  (~15 min)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KEYTURN = str(REPO / ".venv" / "bin" / "keyturn")
LAB_KEYRING = {
    "PYTHON_KEYRING_BACKEND": "lab.keyring_backend.LabCryptFileKeyring",
    "KEYRING_CRYPTFILE_PASSWORD": "bench-discover",
}


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=3600)
    elapsed = time.perf_counter() - started
    if out.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(argv[:6])}...: exit {out.returncode}: {out.stderr[-400:]}")
    return elapsed, out.stdout


def arp_scan_found(text: str) -> int:
    return len(set(re.findall(r"^(\d+\.\d+\.\d+\.\d+)\t", text, re.MULTILINE)))


def nmap_found(text: str, own: str) -> int:
    return len({ip for ip in re.findall(r"Host: (\S+) \(\)\s+Status: Up", text) if ip != own})


class Bench:
    def __init__(self, lab, runs: int, workdir: Path) -> None:
        self.lab, self.runs, self.workdir = lab, runs, workdir
        self.prefix = lab.exec_prefix()
        self.tech = lab.manifest["tech"]
        self.env = {**os.environ, **LAB_KEYRING, "KEYTURN_OPERATOR": "bench"}
        self.env["XDG_DATA_HOME"] = str(workdir / "xdg")
        self.store_no = 0

    def keyturn_env(self, *, snmp: bool = True) -> dict[str, str]:
        self.store_no += 1  # a fresh store per run: no diff work, no growing database
        env = {
            **self.env,
            "KEYTURN_STORE": str(self.workdir / f"{self.lab.lab_id}-s{self.store_no}.db"),
        }
        if not snmp:
            env["KEYTURN_CONFIG"] = str(self.sweep_config())
        return env

    def sweep_config(self) -> Path:
        """The lab's site config without SNMP communities: a sweep compared with arp-scan and
        nmap -sn must not wait for SNMP answers (1.8 s of a /24's 2 s otherwise)."""
        path = self.workdir / f"sweep-site-{self.lab.lab_id}.toml"  # one per lab: it is bound
        if not path.exists():
            text = self.lab.site_config_path.read_text()
            path.write_text(re.sub(r"(?m)^snmp_communities = .*\n", "", text))
        return path

    def sweep_sample(self, argv: list[str], count):
        def sample() -> dict:
            elapsed, out = timed(self.prefix + argv, self.env)
            return {"wall": elapsed, "found": count(out)}

        return sample

    def keyturn_sweep_sample(self, scope: str, rate: str, *extra: str):
        def sample() -> dict:
            argv = [KEYTURN, "--non-interactive", "discover", "--scope", scope, "--no-nmap",
                    "--rate", rate, *extra, "--json", "-"]  # fmt: skip
            elapsed, out = timed(self.prefix + argv, self.keyturn_env(snmp=False))
            document = json.loads(out)
            arp = next(v for k, v in document["stats"].items() if k.startswith("arp:"))
            # ARP only: peers do not cross the router either
            return {"wall": elapsed, "found": arp["found"], "sweep": arp["seconds"],
                    "achieved": arp["achieved_rate"], "configured": rate}  # fmt: skip

        return sample

    def sweeps(self, scope: str, expected: int, large: bool) -> list[dict]:
        iface, own = self.tech["iface"], self.tech["ip"]
        jobs = []
        if large:
            jobs.append(("keyturn --rate max", self.keyturn_sweep_sample(scope, "max")))
            # Like for like with arp-scan: without the nmap ping sweep of the routed /24.
            jobs.append(("keyturn --rate max, ARP part only", self.keyturn_sweep_sample(
                scope, "max", "--exclude", "198.18.1.0/24")))  # fmt: skip
            jobs.append(("keyturn --rate 50000", self.keyturn_sweep_sample(scope, "50000")))
            for bw in ("1000M", "10M"):
                jobs.append((f"arp-scan -B {bw} -r 2", self.sweep_sample(
                    ["arp-scan", "-q", "-x", "-I", iface, "-B", bw, "-r", "2", scope],
                    arp_scan_found)))  # fmt: skip
            jobs.append(("nmap -sn -PR --min-rate 20000", self.sweep_sample(
                ["nmap", "-n", "-sn", "-PR", "--min-rate", "20000", "-oG", "-", scope],
                lambda out: nmap_found(out, own))))  # fmt: skip
        else:
            jobs.append(("keyturn (default 3000 pps)", self.keyturn_sweep_sample(scope, "3000")))
            jobs.append(("keyturn --rate 5000", self.keyturn_sweep_sample(scope, "5000")))
            jobs.append(("keyturn --rate max", self.keyturn_sweep_sample(scope, "max")))
            jobs.append(("arp-scan (default)", self.sweep_sample(
                ["arp-scan", "-q", "-x", "-I", iface, scope], arp_scan_found)))  # fmt: skip
            jobs.append(
                (
                    "arp-scan -B 10M",
                    self.sweep_sample(
                        ["arp-scan", "-q", "-x", "-I", iface, "-B", "10M", scope], arp_scan_found
                    ),
                )
            )
            jobs.append(("nmap -sn -PR", self.sweep_sample(
                ["nmap", "-n", "-sn", "-PR", "-oG", "-", scope], lambda out: nmap_found(out, own)
            )))  # fmt: skip
            jobs.append(("nmap -sn -PR -T4 --min-rate 5000", self.sweep_sample(
                ["nmap", "-n", "-sn", "-PR", "-T4", "--min-rate", "5000", "-oG", "-", scope],
                lambda out: nmap_found(out, own))))  # fmt: skip
        rows = alternate(jobs, self.runs)
        for row in rows:
            row["expected"] = expected
        return rows

    def large_enrichment(self, plain_runs: int) -> list[dict]:
        """keyturn's full discover of the /16 against nmap's port scan of it, alternated, then
        nmap -sV -O on the live hosts keyturn found (once: it takes minutes)."""
        documents = []

        def keyturn_full() -> dict:
            argv = [*self.prefix, KEYTURN, "--non-interactive", "discover", "--rate", "20000",
                    "--json", "-"]  # fmt: skip
            # The lab's site config: its /16 scope and SNMP community, as an operator runs it.
            env = {**self.keyturn_env(), "KEYTURN_CONFIG": str(self.lab.site_config_path)}
            elapsed, out = timed(argv, env)
            document = json.loads(out)
            documents.append(document)
            ports = _services_from_document(document)
            return {"wall": elapsed, "found": len(document["hosts"]), "open": len(ports),
                    "stats": document["stats"]}  # fmt: skip

        xml_out = self.workdir / "ports.xml"

        def nmap_ports() -> dict:
            elapsed, _ = timed([*self.prefix, *NMAP_PORT_SCAN, "-oX", str(xml_out),
                                "198.18.0.0/16"])  # fmt: skip
            found = _hosts_from_xml(xml_out, self.tech["ip"])
            return {"wall": elapsed, "found": len(found), "open": len(_services_from_xml(xml_out))}

        rows = alternate([("keyturn discover --rate 20000 (full)", keyturn_full),
                          (" ".join(NMAP_PORT_SCAN), nmap_ports)],
                         self.runs)  # fmt: skip
        ours = _services_from_document(documents[-1])
        theirs = _services_from_xml(xml_out)
        rows[0]["same"] = len(set(theirs) & set(ours))
        rows[1]["same"] = len(theirs)
        live_theirs = _hosts_from_xml(xml_out, self.tech["ip"])
        live_ours = {h["ip"] for h in documents[-1]["hosts"]}
        rows[0]["missed_hosts"] = len(live_theirs - live_ours)
        if not plain_runs:  # --plain-runs 0: nmap -sV -O on the live set takes 15 min or more
            return rows
        targets = self.workdir / "live.txt"
        targets.write_text("\n".join(sorted(live_ours)) + "\n")
        full_xml = self.workdir / "full.xml"
        samples = []
        for _ in range(plain_runs):
            elapsed, _ = timed([*self.prefix, *NMAP_FULL_SCAN, "-iL", str(targets), "-oX",
                                str(full_xml)])  # fmt: skip
            samples.append(elapsed)
        full = _services_from_xml(full_xml)
        rows.append({"tool": " ".join(NMAP_FULL_SCAN), "wall": statistics.median(samples),
                     "found": len(_hosts_from_xml(full_xml, self.tech["ip"])),
                     "open": len(full), "same": len(full), "runs": plain_runs})  # fmt: skip
        rows[0]["same_as_full"] = sum(1 for k in full if ours.get(k, (None,))[0] == full[k][0])
        return rows

    def enrichment(self, plain_runs: int) -> list[dict]:
        scopes = []
        for scope in self.lab.manifest["subnets"].values():
            scopes += ["--scope", scope]
        samples, documents = [], []
        for _ in range(self.runs):
            argv = [*self.prefix, KEYTURN, "--non-interactive", "discover", *scopes, "--json", "-"]
            elapsed, out = timed(argv, self.keyturn_env())
            samples.append(elapsed)
            documents.append(json.loads(out))
        ours = _services_from_document(documents[-1])
        targets = self.workdir / "targets.txt"
        targets.write_text("\n".join(h["ip"] for h in documents[-1]["hosts"]) + "\n")
        plain_samples, plain = [], {}
        for _ in range(plain_runs):
            xml_out = self.workdir / "plain.xml"
            argv = ["nmap", "-sS", "-sV", "-O", "--top-ports", "100", "-iL", str(targets)]
            elapsed, _ = timed([*self.prefix, *argv, "-oX", str(xml_out)])
            plain_samples.append(elapsed)
            plain = _services_from_xml(xml_out)
        same = sum(1 for k in plain if ours.get(k, (None,))[0] == plain[k][0])
        rows = [
            {"tool": "keyturn discover (sweep+nmap+SNMP+names)", "wall": statistics.median(samples),
             "runs": self.runs, "services": len(ours), "same": same},
        ]  # fmt: skip
        if plain_samples:
            rows.append({"tool": "nmap -sS -sV -O --top-ports 100",
                         "wall": statistics.median(plain_samples), "runs": plain_runs,
                         "services": len(plain), "same": len(plain)})  # fmt: skip
        return rows


# As the issue measured nmap's plain port scan of the /16 (52 s for 4,066 live hosts there).
NMAP_PORT_SCAN = ["nmap", "-n", "-sS", "-T4", "--top-ports", "100", "--max-retries", "1",
                  "--min-rate", "20000", "--min-hostgroup", "1024"]  # fmt: skip
NMAP_FULL_SCAN = ["nmap", "-n", "-Pn", "-sS", "-sV", "-O", "-T4", "--top-ports", "100",
                  "--max-retries", "1", "--min-rate", "20000",
                  "--min-hostgroup", "1024"]  # fmt: skip


def alternate(jobs: list, runs: int) -> list[dict]:
    """Run every job once per round, round after round (2 shared cores: a burst of load hits
    all tools alike), then the median of each measure per job."""
    samples: dict[str, list[dict]] = {name: [] for name, _job in jobs}
    for _ in range(runs):
        for name, job in jobs:
            samples[name].append(job())
    rows = []
    for name, _job in jobs:
        row: dict = {"tool": name, "runs": runs}
        for key, value in samples[name][-1].items():
            numbers = [s[key] for s in samples[name]]
            row[key] = statistics.median(numbers) if isinstance(value, (int, float)) else value
        rows.append(row)
    return rows


def _hosts_from_xml(path: Path, own: str) -> set[str]:
    root = ET.parse(path).getroot()  # noqa: S314 - nmap's own output
    return {
        h.find("address[@addrtype='ipv4']").get("addr")
        for h in root.findall("host")
        if h.find("status").get("state") == "up"
    } - {own}


def _services_from_document(document: dict) -> dict[tuple[str, int], tuple]:
    return {
        (h["ip"], p["port"]): (p["service"], p["product"])
        for h in document["hosts"] for p in h["ports"] if p["state"] == "open"
    }  # fmt: skip


def _services_from_xml(path: Path) -> dict[tuple[str, int], tuple]:
    found = {}
    for host in ET.parse(path).getroot().findall("host"):  # noqa: S314 - nmap's own output
        ip = host.find("address[@addrtype='ipv4']").get("addr")
        for port in host.findall("ports/port"):
            if port.find("state").get("state") != "open":
                continue
            service = port.find("service")
            found[(ip, int(port.get("portid")))] = (
                service.get("name") if service is not None else None,
                service.get("product") if service is not None else None,
            )
    return found


def _phantom_count(phantoms) -> int:
    if isinstance(phantoms, dict):
        return int(phantoms.get("count") or len(phantoms.get("addresses", [])))
    return len(phantoms or [])


def print_sweeps(title: str, rows: list[dict], runs: int) -> None:
    print(f"\n{title} (median of {runs} runs)")
    print(f"{'tool':<34}{'wall s':>8}{'sweep s':>9}{'found':>7}{'of':>6}{'rate pps':>18}")
    for r in rows:
        rate = f"{r['achieved']:.0f}/{r['configured']}" if "achieved" in r else ""
        sweep = f"{r['sweep']:.2f}" if "sweep" in r else ""
        print(f"{r['tool']:<34}{r['wall']:>8.2f}{sweep:>9}{r['found']:>7.0f}{r['expected']:>6}"
              f"{rate:>18}")  # fmt: skip


def print_ratio(rows: list[dict], ours: str, theirs: str) -> None:
    by_tool = {r["tool"]: r for r in rows}
    ratio = by_tool[ours]["wall"] / by_tool[theirs]["wall"]
    print(f"ratio {ours} / {theirs}: {ratio:.2f} (medians of alternated runs)")


def print_large_enrichment(rows: list[dict], manifest: dict) -> None:
    tcp = len(manifest.get("tcp_phantoms", []))
    print(f"\nFull discover of 198.18.0.0/16 (large lab, {tcp} TCP phantoms; alternated runs)")
    print(f"{'tool':<62}{'wall s':>8}{'runs':>5}{'hosts':>7}{'open':>6}{'common':>8}")
    for r in rows:
        print(f"{r['tool'][:61]:<62}{r['wall']:>8.2f}{r['runs']:>5}{r['found']:>7.0f}"
              f"{r['open']:>6.0f}{r['same']:>8}")  # fmt: skip
    ours, ports = rows[:2]
    print(f"ratio keyturn / nmap port scan: {ours['wall'] / ports['wall']:.2f}")
    print(
        f"live hosts nmap found that keyturn did not: {ours['missed_hosts']}; open ports "
        f"nmap found that keyturn did not: {ports['open'] - ours['same']:.0f}"
    )
    if len(rows) > 2:
        full = rows[2]
        print(
            f"keyturn / nmap -sV -O on the live set: {ours['wall'] / full['wall']:.2f}; services"
            f" named as nmap -sV names them: {ours['same_as_full']} of {full['open']:.0f}"
        )
    for stage, values in sorted(ours["stats"].items()):
        if stage.startswith(("nmap:", "arp:")):
            print(f"  keyturn {stage}: {json.dumps(values, sort_keys=True)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--large", action="store_true", help="also the /16 large lab")
    parser.add_argument("--enrich", action="store_true", help="also keyturn vs plain nmap")
    parser.add_argument("--plain-runs", type=int, default=1,
                        help="plain nmap -sV -O runs (~9 min each on the small lab, 15 min "
                             "or more on the large one; 0 skips them)")  # fmt: skip
    args = parser.parse_args()
    from lab.site import Lab

    workdir = Path(tempfile.mkdtemp(prefix="bench-discover-"))
    os.environ.update(LAB_KEYRING)
    os.environ["XDG_DATA_HOME"] = str(workdir / "xdg")
    lab = Lab.up("small", with_dc=args.enrich, owner_bound=True)
    try:
        bench = Bench(lab, args.runs, workdir)
        lan = lab.manifest["subnets"]["lan"]
        expected = sum(1 for h in lab.manifest["hosts"] if h["ip"].startswith(lan[:-4]))
        rows = bench.sweeps(lan, expected, False)
        print_sweeps(f"Sweep {lan} (small lab)", rows, args.runs)
        print_ratio(rows, "keyturn --rate 5000", "nmap -sn -PR -T4 --min-rate 5000")
        if args.enrich:
            rows = bench.enrichment(args.plain_runs)
            print(f"\nEnrichment of {lab.manifest['subnets']} (small lab)")
            print(f"{'tool':<44}{'wall s':>9}{'runs':>6}{'services':>10}{'same as nmap':>14}")
            for r in rows:
                print(f"{r['tool']:<44}{r['wall']:>9.2f}{r['runs']:>6}{r['services']:>10}"
                      f"{r['same']:>14}")  # fmt: skip
            if len(rows) > 1:
                print(f"ratio keyturn / plain nmap: {rows[0]['wall'] / rows[1]['wall']:.2f}")
    finally:
        lab.down()
    if args.large:
        large = Lab.up("large", with_dc=False, owner_bound=True)
        try:
            bench = Bench(large, args.runs, workdir)
            manifest = large.manifest
            expected = sum(1 for h in manifest["hosts"] if h["ip"].startswith("198.18.0.")) + len(
                manifest.get("phantoms", [])
            )
            rows = bench.sweeps("198.18.0.0/16", expected, True)
            print_sweeps("Sweep 198.18.0.0/16 (large lab; the routed /24 goes through nmap)",
                         rows, args.runs)  # fmt: skip
            print_ratio(rows, "keyturn --rate max, ARP part only", "arp-scan -B 1000M -r 2")
            if args.enrich:
                print_large_enrichment(bench.large_enrichment(args.plain_runs), manifest)
        finally:
            large.down()


if __name__ == "__main__":
    main()
