"""The lab's record of everything it creates, and the teardown that removes exactly that.

Every namespace name is written to ``/run/keyturn-lab/<lab_id>/state.json`` before the namespace
exists, and every process's PID (with its kernel start time, so a recycled PID is never
signalled) right after it starts. ``teardown`` works from that record alone, so a lab whose
owner died half-way through ``up`` is removed just as completely as a healthy one. As a second
net, any process still living inside one of the lab's own namespaces is ended too: every lab
process runs inside a lab namespace, so this never reaches anything else on the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent.core import procs
from lab import netns

STATE_ROOT = Path("/run/keyturn-lab")
LAB_ID_RE = re.compile(r"^kt[0-9a-f]{6}$")
STATE_FILE = "state.json"
_save_lock = threading.Lock()  # up() records processes from worker threads


def new_lab_id() -> str:
    """``kt`` + 6 hex: short enough that ``<id>-xNNNN`` fits the 15-character interface limit."""
    while True:
        lab_id = "kt" + secrets.token_hex(3)
        if not in_use(lab_id):
            return lab_id


def in_use(lab_id: str) -> bool:
    """Taken by a lab, or by anyone's namespace with that prefix (other tools use kt... too)."""
    if (STATE_ROOT / lab_id).exists():
        return True
    return netns.NETNS_DIR.is_dir() and any(
        p.name.startswith(lab_id) for p in netns.NETNS_DIR.iterdir()
    )


def check_lab_id(lab_id: str) -> str:
    if not LAB_ID_RE.match(lab_id):
        raise ValueError(f"not a lab id: {lab_id!r} (expected kt + 6 hex digits)")
    return lab_id


@dataclass
class ProcessRecord:
    pid: int
    start_time: int  # field 22 of /proc/PID/stat: tells a recycled PID from ours
    what: str
    host: str | None = None


@dataclass
class LabState:
    lab_id: str
    size: str = "small"
    owner_pid: int = 0
    owner_start_time: int = 0
    # True when the lab lives only as long as its owner (a pytest session): an owner-bound
    # lab whose owner is gone is garbage that reap_orphans() may remove.
    owner_bound: bool = False
    status: str = "starting"
    created: float = field(default_factory=time.time)
    namespaces: list[str] = field(default_factory=list)
    processes: list[ProcessRecord] = field(default_factory=list)
    # The machine's neighbour-table limits before this lab raised them (teardown puts them
    # back): sysctl name -> value.
    neighbour_limits: dict[str, str] = field(default_factory=dict)

    @property
    def dir(self) -> Path:
        return STATE_ROOT / self.lab_id

    def save(self) -> None:
        """Atomic replace, so a crash mid-write never leaves a record teardown cannot read."""
        with _save_lock:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = self.dir / (STATE_FILE + ".tmp")
            tmp.write_text(json.dumps(asdict(self), indent=1))
            os.replace(tmp, self.dir / STATE_FILE)

    @classmethod
    def load(cls, lab_id: str) -> LabState:
        raw = json.loads((STATE_ROOT / check_lab_id(lab_id) / STATE_FILE).read_text())
        raw["processes"] = [ProcessRecord(**p) for p in raw.get("processes", [])]
        return cls(**raw)

    def plan_namespaces(self, names: list[str]) -> None:
        """Record names before any of them is created."""
        self.namespaces.extend(n for n in names if n not in self.namespaces)
        self.save()

    def record_process(self, pid: int, what: str, host: str | None = None) -> None:
        self.processes.append(ProcessRecord(pid, process_start_time(pid) or 0, what, host))
        self.save()


def list_labs() -> list[str]:
    if not STATE_ROOT.is_dir():
        return []
    return sorted(
        p.name
        for p in STATE_ROOT.iterdir()
        if LAB_ID_RE.match(p.name) and (p / STATE_FILE).exists()
    )


def process_start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


def alive(record: ProcessRecord) -> bool:
    """Running, and really the process we started (a zombie awaiting its reaper is not)."""
    start = process_start_time(record.pid)
    if start is None or (record.start_time and start != record.start_time):
        return False
    return procs.state(record.pid) not in ("Z", "X")


def orphaned(st: LabState) -> bool:
    """An owner-bound lab (a test session's) whose owner process is gone."""
    if not st.owner_bound:
        return False
    return not alive(ProcessRecord(st.owner_pid, st.owner_start_time, "owner"))


def status(lab_id: str) -> dict[str, Any]:
    """What ``keyturn lab status`` shows: recorded vs present namespaces and processes.
    ValueError when no lab of that id is recorded here."""
    try:
        st = LabState.load(lab_id)
    except FileNotFoundError:
        raise ValueError(f"no lab {lab_id} on this machine") from None
    return {
        "lab_id": lab_id,
        "status": "orphaned" if orphaned(st) else st.status,
        "size": st.size,
        "owner_pid": st.owner_pid,
        "namespaces": len(st.namespaces),
        "namespaces_present": sum(netns.exists(n) for n in st.namespaces),
        "processes": len(st.processes),
        "processes_alive": sum(alive(p) for p in st.processes),
        "site_config": str(st.dir / "site.toml"),
    }


def reap_orphans() -> list[str]:
    """Remove owner-bound labs whose owner died without tearing them down (a test session
    killed by a timeout). Labs from ``keyturn lab up`` are never owner-bound: they stay."""
    reaped = []
    for lab_id in list_labs():
        try:
            st = LabState.load(lab_id)
        except (OSError, ValueError):
            continue
        if orphaned(st):
            teardown(st)
            reaped.append(lab_id)
    return reaped


def pids_in_namespaces(names: list[str]) -> list[int]:
    """PIDs of processes whose network namespace is one of ``names`` (by inode)."""
    inodes = set()
    for name in names:
        try:
            inodes.add(os.stat(netns.NETNS_DIR / name).st_ino)
        except OSError:
            continue
    if not inodes:
        return []
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry.name}/ns/net").st_ino in inodes:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def kill_processes(records: list[ProcessRecord], namespaces: list[str], grace: float = 2.0) -> None:
    """SIGTERM the recorded processes (and their session, for process-group daemons such as
    samba), then SIGKILL whatever still runs in the lab's namespaces."""
    own = os.getpid()
    targets = [r.pid for r in records if alive(r) and r.pid != own]
    for pid in targets:
        _signal(pid, signal.SIGTERM)
    stray = [p for p in pids_in_namespaces(namespaces) if p != own]
    for pid in stray:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    pending = set(targets) | set(stray)
    while pending and time.monotonic() < deadline:
        pending = {p for p in pending if procs.running(p)}
        time.sleep(0.05)
    for pid in pending:
        _signal(pid, signal.SIGKILL)
    # Children forked after the scan (sshd sessions, samba workers) are caught here.
    for _ in range(20):
        left = [p for p in pids_in_namespaces(namespaces) if p != own]
        if not left:
            return
        for pid in left:
            _signal(pid, signal.SIGKILL)
        time.sleep(0.05)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


# The kernel's IPv4 neighbour table is one for every namespace: a large lab's ~4000 live
# addresses, the scanner's connections and RSTs to them and the host namespaces' entries for
# the scanner overflow its default 1024 entries, and then both keyturn and nmap lose answers
# (the /16 lab: 517 of 545 open ports on a fresh table, 128-282 on runs right after others).
# Values of a machine that scans a /16 (what keyturn's discover note suggests for 4000 hosts).
NEIGHBOUR_LIMITS = {"gc_thresh1": "1024", "gc_thresh2": "8192", "gc_thresh3": "16384"}
NEIGHBOUR_SYSCTL = Path("/proc/sys/net/ipv4/neigh/default")


def raise_neighbour_limits(state: LabState) -> None:
    """Raise the machine's neighbour-table limits for a large lab, recording the old values
    for teardown; limits already as high (another large lab, an operator) are left alone."""
    for name, value in NEIGHBOUR_LIMITS.items():
        path = NEIGHBOUR_SYSCTL / name
        current = path.read_text().strip()
        if int(current) < int(value):
            state.neighbour_limits[name] = current
            state.save()  # recorded before it changes, as namespaces are
            path.write_text(value)


def _restore_neighbour_limits(state: LabState) -> None:
    if not state.neighbour_limits:
        return
    others = []
    for entry in STATE_ROOT.iterdir() if STATE_ROOT.is_dir() else ():
        with contextlib.suppress(OSError, ValueError, TypeError):
            other = LabState.load(entry.name)
            if other.lab_id != state.lab_id and other.size == "large":
                others.append(other)
    if others:  # another large lab still needs the room: it restores them when it goes
        others[0].neighbour_limits = {**state.neighbour_limits, **others[0].neighbour_limits}
        others[0].save()
        return
    for name, value in state.neighbour_limits.items():
        with contextlib.suppress(OSError):
            (NEIGHBOUR_SYSCTL / name).write_text(value)


def teardown(state: LabState) -> None:
    """Remove the lab's processes, namespaces (by exact recorded name) and state directory,
    and put back the machine settings it changed."""
    state.status = "stopping"
    state.save()
    kill_processes(state.processes, state.namespaces)
    for name in state.namespaces:
        netns.delete(name)
    _restore_neighbour_limits(state)
    shutil.rmtree(state.dir, ignore_errors=True)
