"""A discover stopped half-way (SIGTERM, what `timeout` and schedulers send) keeps the hosts
it found as a partial run, and the next discover of the same scope completes it; one killed
outright (SIGKILL) has stored them as it went, and the next one resumes from those. Runs in
the session lab, with only the lab's service ports to keep it short."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from agent.core import procs
from tests.conftest import KEYTURN

pytestmark = pytest.mark.lab


def _discover(lab, env: dict[str, str], ports: str, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*lab.exec_prefix(), KEYTURN, "--non-interactive", "discover", "--ports", ports,
         "--json", str(out)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _service_ports(manifest: dict) -> str:
    tcp = {s["port"] for h in manifest["hosts"] for s in h["services"] if s["proto"] == "tcp"}
    return ",".join(str(p) for p in sorted(tcp))


def _assert_every_service_found(manifest: dict, document: dict) -> None:
    found = {h["ip"]: h for h in document["hosts"]}
    for host in manifest["hosts"]:
        expected = {s["port"] for s in host["services"] if s["proto"] == "tcp"}
        got = {
            p["port"]
            for p in found[host["ip"]]["ports"]
            if p["proto"] == "tcp" and p["state"] == "open"
        }
        assert got == expected, host["name"]


def test_killed_half_way_keeps_a_partial_run_the_next_completes(lab, lab_cli_env, tmp_path):
    manifest = lab.manifest
    ports = _service_ports(manifest)
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
    _assert_every_service_found(manifest, complete)
    # Diffs compare against complete runs only: nothing "changed" against the partial one.
    assert complete["diff"]["previous_run_id"] is None
    stats = complete["stats"]
    assert stats["nmap:ports"]["packets_sent"] > 0 and stats["nmap:ports"]["achieved_rate"] > 0


def _checkpoint(store: Path) -> dict | None:
    """The running discover's stored checkpoint (read-only, beside the writer: WAL)."""
    if not store.exists():
        return None
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        try:
            row = db.execute(
                "SELECT d.data FROM run_documents d JOIN runs r ON r.id = d.run_id"
                " WHERE r.command = 'discover' ORDER BY r.id DESC LIMIT 1"
            ).fetchone()
        except sqlite3.OperationalError:  # the schema is still being made
            return None
    return json.loads(row[0]) if row else None


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def test_killed_outright_the_inventory_kept_what_it_stored_and_the_next_run_resumes(
    lab, lab_cli_env, tmp_path
):
    manifest = lab.manifest
    ports = _service_ports(manifest)
    store = Path(lab_cli_env["KEYTURN_STORE"])
    first = _discover(lab, lab_cli_env, ports, tmp_path / "first.json")
    # The store is the clock: kill the process once a host group's enrichment is stored.
    deadline = time.monotonic() + 120
    while first.poll() is None and time.monotonic() < deadline:
        checkpoint = _checkpoint(store)
        if checkpoint and checkpoint.get("checkpoint") and checkpoint["interrupted"]["enriched"]:
            break
        time.sleep(0.05)
    assert first.poll() is None, "the discover ended before any host group was stored"
    nmaps = _children(first.pid)
    first.kill()
    first.wait(timeout=30)
    first.stderr.close()
    assert not (tmp_path / "first.json").exists()  # it never got to write its document
    # Its nmap runs die with it (they would scan on with nobody to read them).
    for _ in range(100):
        if not any(procs.running(pid) for pid in nmaps):
            break
        time.sleep(0.05)
    assert not [pid for pid in nmaps if procs.running(pid)]
    left = _checkpoint(store)
    with sqlite3.connect(store) as db:
        stored = {row[0] for row in db.execute(
            "SELECT ip FROM host_observations WHERE run_id = ?", (left["run_id"],))}  # fmt: skip
    assert stored >= {h["ip"] for h in manifest["hosts"]}  # every host the sweep found
    assert left["interrupted"]["enriched"]

    second = _discover(lab, lab_cli_env, ports, tmp_path / "second.json")
    _out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    complete = json.loads((tmp_path / "second.json").read_text())
    assert complete["resumed_from"] == left["run_id"]
    assert complete["stats"]["resumed_hosts"] == len(left["interrupted"]["enriched"])
    _assert_every_service_found(manifest, complete)
    with sqlite3.connect(store) as db:
        status = db.execute("SELECT status FROM runs WHERE id = ?", (left["run_id"],)).fetchone()
    assert status == ("incomplete",)  # no reader takes its rows for a finished run's
