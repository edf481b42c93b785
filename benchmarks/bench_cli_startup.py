"""How long `keyturn --help` takes, against `nmap --version` and a bare Python start.

Goal (issue 2): median <= 0.3 s. Prints medians over N runs; no packet is sent.
Usage: .venv/bin/python benchmarks/bench_cli_startup.py [RUNS]
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

VENV_BIN = Path(__file__).resolve().parent.parent / ".venv" / "bin"


def median_seconds(argv: list[str], runs: int) -> float:
    subprocess.run(argv, capture_output=True, check=True)  # warm the page cache
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    commands = {
        "keyturn --help": [str(VENV_BIN / "keyturn"), "--help"],
        "keyturn --version": [str(VENV_BIN / "keyturn"), "--version"],
        "python -c pass": [str(VENV_BIN / "python"), "-c", "pass"],
    }
    if shutil.which("nmap"):
        commands["nmap --version"] = ["nmap", "--version"]
    results = {name: median_seconds(argv, runs) for name, argv in commands.items()}
    baseline = results["keyturn --help"]
    print(f"{'command':<20} {'median s':>9} {'vs keyturn --help':>18}   ({runs} runs)")
    for name, seconds in results.items():
        print(f"{name:<20} {seconds:>9.3f} {seconds / baseline:>17.2f}x")
    print(f"goal keyturn --help <= 0.300 s: {'met' if baseline <= 0.3 else 'NOT met'}")


if __name__ == "__main__":
    main()
