"""A discover stopped half-way (SIGTERM, what `timeout` and schedulers send) keeps the hosts
it found as a partial run, and the next discover of the same scope completes it. Runs in
the session lab, with only the lab's service ports to keep it short."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import KEYTURN

pytestmark = pytest.mark.lab


def _discover(lab, env: dict[str, str], ports: str, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*lab.exec_prefix(), KEYTURN, "--non-interactive", "discover", "--ports", ports,
         "--json", str(out)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_killed_half_way_keeps_a_partial_run_the_next_completes(lab, lab_cli_env, tmp_path):
    manifest = lab.manifest
    ports = ",".join(
        str(p)
        for p in sorted(
            {s["port"] for h in manifest["hosts"] for s in h["services"] if s["proto"] == "tcp"}
        )
    )
    first = _discover(lab, lab_cli_env, ports, tmp_path / "first.json")
    seen = []
    # The progress lines are the clock: stop it once both sweeps are in and the service and
    # OS scans run (they take seconds), not after a sleep. (The local hosts' scans start
    # before the routed sweep is done.)
    for line in first.stderr:
        seen.append(line)
        started = any(s.startswith("discover: nmap services/OS started") for s in seen)
        routed = any(s.startswith("discover: ping sweep (routed) done") for s in seen)
        if started and routed:
            first.send_signal(signal.SIGTERM)
            break
    rest = first.stderr.read()
    assert first.wait(timeout=60) == 130, "".join(seen) + rest
    assert "kept as partial" in rest
    partial = json.loads((tmp_path / "first.json").read_text())
    assert partial["status"] == "partial" and partial["interrupted"]["reason"] == "SIGTERM"
    assert partial["interrupted"]["stage"] == "enrichment"
    swept = {h["ip"] for h in partial["hosts"]}
    assert swept >= {h["ip"] for h in manifest["hosts"]}  # the sweep had found everyone
    assert len(partial["interrupted"]["enriched"]) < len(swept)

    second = _discover(lab, lab_cli_env, ports, tmp_path / "second.json")
    _out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    complete = json.loads((tmp_path / "second.json").read_text())
    assert complete["resumed_from"] == partial["run_id"] and "interrupted" not in complete
    assert complete["stats"]["resumed_hosts"] == len(partial["interrupted"]["enriched"])
    found = {h["ip"]: h for h in complete["hosts"]}
    for host in manifest["hosts"]:
        expected = {s["port"] for s in host["services"] if s["proto"] == "tcp"}
        got = {
            p["port"]
            for p in found[host["ip"]]["ports"]
            if p["proto"] == "tcp" and p["state"] == "open"
        }
        assert got == expected, host["name"]
    # Diffs compare against complete runs only: nothing "changed" against the partial one.
    assert complete["diff"]["previous_run_id"] is None
    stats = complete["stats"]
    assert stats["nmap:ports"]["packets_sent"] > 0 and stats["nmap:ports"]["achieved_rate"] > 0
