"""Benchmark: build and lay out synthetic networks, and (with --lab) collect and draw the lab.

Synthetic shapes (lab.wiring.synthetic_facts: a core, distribution and access switches with
hosts in two VLANs, every MAC table as a real L2 domain fills it):

  small: 301 devices in all: 31 switches, 270 hosts
  large: 300 switches and routers, 3,528 hosts (889 drawn nodes with the host groups)

Goal (issue 20): layout of a 300-device network under 1 s. Wall times on a shared machine
include waiting for the CPU, so the dot child's CPU time is reported too.

    .venv/bin/python benchmarks/bench_topology.py [--runs 3] [--lab]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.topology.build import build  # noqa: E402
from agent.topology.draw import run_dot, to_dot  # noqa: E402
from agent.topology.exports import to_drawio, to_graphml  # noqa: E402
from agent.topology.graph import elements  # noqa: E402
from lab.wiring import synthetic_facts  # noqa: E402

SHAPES = {"small (300 devices: 31 switches + 270 hosts)": (3, 9, 10),
          "large (300 switches, 3528 hosts)": (6, 49, 12)}  # fmt: skip
GOAL_SECONDS = 1.0


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def synthetic(runs: int) -> None:
    for label, shape in SHAPES.items():
        facts, expected = synthetic_facts(*shape)
        builds, layouts, cpus, exports = [], [], [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            doc = build(facts).to_json()
            builds.append(time.perf_counter() - t0)
            nodes, edges = elements(doc)
            dot_text = to_dot(nodes, edges)
            cpu0, t1 = _child_cpu(), time.perf_counter()
            run_dot(dot_text, "svg")
            layouts.append(time.perf_counter() - t1)
            cpus.append(_child_cpu() - cpu0)
            t2 = time.perf_counter()
            to_drawio(nodes, edges)
            to_graphml(nodes, edges)
            exports.append(time.perf_counter() - t2)
        placed = {h["mac"]: (h["device"], h["port"]) for h in doc["hosts"]}
        assert placed == expected, "a host landed on the wrong port"
        layout = statistics.median(layouts)
        print(
            f"{label}: {len(doc['devices'])} switches, {len(doc['hosts'])} hosts, "
            f"{len(nodes)} nodes, {len(edges)} edges"
        )
        print(
            f"  build {statistics.median(builds):.3f} s | dot layout+SVG "
            f"{layout:.3f} s wall, {statistics.median(cpus):.3f} s CPU | "
            f"draw.io+GraphML (own dot layout) {statistics.median(exports):.3f} s | "
            f"goal < {GOAL_SECONDS} s: "
            f"{'met' if statistics.median(cpus) < GOAL_SECONDS else 'MISSED'} (CPU)"
        )


def lab_run() -> None:
    """Bring up a small lab (no DC), time `keyturn topology` inside it, tear it down."""
    import json
    import os
    import tempfile

    from lab.site import Lab

    lab = Lab.up("small", with_dc=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(
                os.environ,
                KEYTURN_CONFIG=str(lab.site_config_path),
                KEYTURN_STORE=str(Path(tmp) / "lab.db"),
                KEYTURN_OPERATOR="bench",
            )
            out = Path(tmp) / "out"
            for attempt in (1, 2):
                t0 = time.monotonic()
                subprocess.run(
                    [
                        *lab.exec_prefix(),
                        str(REPO / ".venv/bin/keyturn"),
                        "topology",
                        "--json",
                        str(out / "t.json"),
                        "--out",
                        str(out),
                    ],
                    env=env,
                    check=True,
                    capture_output=True,
                    timeout=300,
                )
                wall = time.monotonic() - t0
                stats = json.loads((out / "t.json").read_text())["stats"]
                print(
                    f"lab run {attempt}: keyturn topology {wall:.2f} s wall (collect "
                    f"{stats['collect_seconds']} s, draw {stats['draw_seconds']} s)"
                )
    finally:
        lab.down()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lab", action="store_true", help="also time the lab (needs root)")
    args = parser.parse_args()
    synthetic(args.runs)
    if args.lab:
        lab_run()


if __name__ == "__main__":
    main()
