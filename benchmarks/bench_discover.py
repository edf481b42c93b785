"""Discovery against its peers, all inside a lab this script brings up (and takes down).

Sweeps: keyturn's ARP sweep (the whole `keyturn discover --no-nmap` process, and its sweep
stage alone) against arp-scan and nmap -sn -PR on the small lab's /24 and, with --large, on
the large lab's /16 (~4000 ARP-live addresses), with achieved against configured rate.
Enrichment (--enrich): `keyturn discover` end to end against plain
`nmap -sS -sV -O --top-ports 100` on the same live hosts, and whether they found the same
services. Prints one table of medians per section.

Usage (root): .venv/bin/python benchmarks/bench_discover.py [--runs 3] [--large] [--enrich]
    [--plain-runs 1]
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

    def keyturn_env(self) -> dict[str, str]:
        self.store_no += 1  # a fresh store per run: no diff work, no growing database
        return {**self.env, "KEYTURN_STORE": str(self.workdir / f"s{self.store_no}.db")}

    def sweep_row(self, name: str, argv: list[str], count) -> dict:
        samples, found = [], []
        for _ in range(self.runs):
            elapsed, out = timed(self.prefix + argv, self.env)
            samples.append(elapsed)
            found.append(count(out))
        return {"tool": name, "wall": statistics.median(samples), "found": statistics.median(found)}

    def keyturn_sweep_row(self, name: str, scope: str, rate: str, *extra: str) -> dict:
        samples, found, stage, achieved = [], [], [], []
        for _ in range(self.runs):
            argv = [KEYTURN, "--non-interactive", "discover", "--scope", scope, "--no-nmap",
                    "--rate", rate, *extra, "--json", "-"]  # fmt: skip
            elapsed, out = timed(self.prefix + argv, self.keyturn_env())
            document = json.loads(out)
            arp = next(v for k, v in document["stats"].items() if k.startswith("arp:"))
            samples.append(elapsed)
            found.append(arp["found"])  # ARP only: peers do not cross the router either
            stage.append(arp["seconds"])
            achieved.append(arp["achieved_rate"])
        return {
            "tool": name, "wall": statistics.median(samples), "found": statistics.median(found),
            "sweep": statistics.median(stage), "achieved": statistics.median(achieved),
            "configured": rate,
        }  # fmt: skip

    def sweeps(self, scope: str, expected: int, large: bool) -> list[dict]:
        iface, own = self.tech["iface"], self.tech["ip"]
        rows = []
        if large:
            rows.append(self.keyturn_sweep_row("keyturn --rate max", scope, "max"))
            # Like for like with arp-scan: without the nmap ping sweep of the routed /24.
            rows.append(self.keyturn_sweep_row(
                "keyturn --rate max, ARP part only", scope, "max", "--exclude", "198.18.1.0/24"
            ))  # fmt: skip
            rows.append(self.keyturn_sweep_row("keyturn --rate 50000", scope, "50000"))
            for bw in ("1000M", "10M"):
                rows.append(self.sweep_row(
                    f"arp-scan -B {bw} -r 2", ["arp-scan", "-q", "-x", "-I", iface, "-B", bw,
                                               "-r", "2", scope], arp_scan_found))  # fmt: skip
            rows.append(
                self.sweep_row(
                    "nmap -sn -PR --min-rate 20000",
                    ["nmap", "-n", "-sn", "-PR", "--min-rate", "20000", "-oG", "-", scope],
                    lambda out: nmap_found(out, own),
                )
            )
        else:
            rows.append(self.keyturn_sweep_row("keyturn (default 3000 pps)", scope, "3000"))
            rows.append(self.keyturn_sweep_row("keyturn --rate max", scope, "max"))
            rows.append(self.sweep_row(
                "arp-scan (default)", ["arp-scan", "-q", "-x", "-I", iface, scope], arp_scan_found
            ))  # fmt: skip
            rows.append(self.sweep_row(
                "arp-scan -B 10M", ["arp-scan", "-q", "-x", "-I", iface, "-B", "10M", scope],
                arp_scan_found,
            ))  # fmt: skip
            rows.append(self.sweep_row(
                "nmap -sn -PR", ["nmap", "-n", "-sn", "-PR", "-oG", "-", scope],
                lambda out: nmap_found(out, own),
            ))  # fmt: skip
            rows.append(
                self.sweep_row(
                    "nmap -sn -PR -T4 --min-rate 5000",
                    ["nmap", "-n", "-sn", "-PR", "-T4", "--min-rate", "5000", "-oG", "-", scope],
                    lambda out: nmap_found(out, own),
                )
            )
        for row in rows:
            row["expected"] = expected
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
        return [
            {"tool": "keyturn discover (sweep+nmap+SNMP+names)", "wall": statistics.median(samples),
             "runs": self.runs, "services": len(ours), "same": same},
            {"tool": "nmap -sS -sV -O --top-ports 100", "wall": statistics.median(plain_samples),
             "runs": plain_runs, "services": len(plain), "same": len(plain)},
        ]  # fmt: skip


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--large", action="store_true", help="also the /16 large lab")
    parser.add_argument("--enrich", action="store_true", help="also keyturn vs plain nmap")
    parser.add_argument("--plain-runs", type=int, default=1,
                        help="plain nmap runs (~9 min each on the small lab)")  # fmt: skip
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
        print_sweeps(f"Sweep {lan} (small lab)", bench.sweeps(lan, expected, False), args.runs)
        if args.enrich:
            rows = bench.enrichment(args.plain_runs)
            print(f"\nEnrichment of {lab.manifest['subnets']} (small lab)")
            print(f"{'tool':<44}{'wall s':>9}{'runs':>6}{'services':>10}{'same as nmap':>14}")
            for r in rows:
                print(f"{r['tool']:<44}{r['wall']:>9.2f}{r['runs']:>6}{r['services']:>10}"
                      f"{r['same']:>14}")  # fmt: skip
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
            print_sweeps("Sweep 198.18.0.0/16 (large lab; the routed /24 goes through nmap)",
                         bench.sweeps("198.18.0.0/16", expected, True), args.runs)  # fmt: skip
        finally:
            large.down()


if __name__ == "__main__":
    main()
