"""The per-client store lock: of two overlapping runs exactly one proceeds; the other exits
at once with a message, and a killed holder never leaves a stale lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from agent.context import AppContext
from agent.core.errors import LockedError
from agent.ops import lock
from tests.conftest import KEYTURN, PYTHON

HOLDER = """
import sys, time
from agent.context import AppContext
from agent.core.errors import LockedError
app = AppContext(store_path=sys.argv[1])
start = float(sys.argv[2])
while time.time() < start:  # both processes ask for the lock at the same instant
    time.sleep(0.001)
try:
    with app.lock("holder"):
        print("got", flush=True)
        time.sleep(float(sys.argv[3]))
except LockedError as exc:
    print(f"locked: {exc}", flush=True)
    sys.exit(exc.exit_code)
"""


def start_holder(
    store: Path, start: float, hold: float, data: Path | None = None
) -> subprocess.Popen:
    # The client's lock lives in the data dir: a private one per test (another suite on
    # this machine may hold the default client's lock in the real one).
    data = data or store.parent / "xdg-data"
    return subprocess.Popen(
        [PYTHON, "-c", HOLDER, str(store), str(start), str(hold)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        env=dict(os.environ, XDG_DATA_HOME=str(data)),
    )


def wait_for_holder(store: Path, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = lock.holder(store)
        if info:
            return info
        time.sleep(0.02)
    raise AssertionError("the holder never took the lock")


def test_two_concurrent_runs_exactly_one_proceeds(tmp_path):
    store = tmp_path / "acme.db"
    for _attempt in range(3):
        start = time.time() + 1.0
        procs = [start_holder(store, start, 0.5) for _ in range(2)]
        outputs = [(p.wait(timeout=30), p.stdout.read().strip()) for p in procs]
        assert sorted(code for code, _out in outputs) == [0, 3], outputs
        winner = next(out for code, out in outputs if code == 0)
        loser = next(out for code, out in outputs if code == 3)
        assert winner == "got"
        assert loser.startswith("locked: another keyturn run holds")
        assert "'keyturn holder' pid" in loser
    assert lock.holder(store) is None  # released when the winner exited


def test_two_runs_for_one_client_never_interleave_whatever_store_they_name(tmp_path):
    """Issue 13 item 3: the keyring is per client, so the lock is too."""
    data = tmp_path / "xdg-data"  # one user, one keyring, one data dir
    for _attempt in range(3):
        start = time.time() + 1.0
        stores = [tmp_path / "a" / "acme.db", tmp_path / "b" / "acme.db"]
        procs = [start_holder(store, start, 0.5, data) for store in stores]
        outputs = [(p.wait(timeout=30), p.stdout.read().strip()) for p in procs]
        assert sorted(code for code, _out in outputs) == [0, 3], outputs
        loser = next(out for code, out in outputs if code == 3)
        assert loser.startswith("locked: another keyturn run holds client 'default'")
    # Another client (another keyring service) is not held up by it.
    other = tmp_path / "other.toml"
    other.write_text('client = "other"\n')
    first = start_holder(tmp_path / "a" / "acme.db", 0, 5, data)
    try:
        assert wait_for_holder(tmp_path / "a" / "acme.db")["pid"] == first.pid
        env = dict(os.environ, XDG_DATA_HOME=str(data), KEYTURN_CONFIG=str(other))
        second = subprocess.run(
            [PYTHON, "-c", HOLDER, str(tmp_path / "c" / "other.db"), "0", "0"],
            capture_output=True, text=True, env=env, timeout=60,
            cwd=Path(__file__).resolve().parent.parent,
        )  # fmt: skip
        assert (second.returncode, second.stdout.strip()) == (0, "got"), second.stderr
    finally:
        first.kill()
        first.wait()


def test_cli_commands_exit_at_once_while_another_run_holds_the_store(tmp_path, cli_env):
    store = Path(cli_env["KEYTURN_STORE"])
    site = tmp_path / "site.toml"
    site.write_text('client = "acme"\nscope = ["198.18.0.0/24"]\n')
    holder = start_holder(store, 0, 60)
    try:
        info = wait_for_holder(store)
        assert info["pid"] == holder.pid and info["command"] == "holder"
        for args in (
            ["--config", str(site), "--non-interactive", "onboard"],
            ["checklist", "add", "--kind", "vpn_access", "--target", "VPN portal"],
        ):
            started = time.monotonic()
            result = subprocess.run(
                [KEYTURN, *args], capture_output=True, text=True, env=cli_env, timeout=60,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
            assert time.monotonic() - started < 10
            assert result.returncode == 3, result.stderr
            assert result.stderr.startswith("keyturn: error: another keyturn run holds")
            assert f"pid {holder.pid}" in result.stderr
        listed = subprocess.run([KEYTURN, "checklist", "--json", "-"], capture_output=True,
                                text=True, env=cli_env, timeout=60)  # fmt: skip
        assert json.loads(listed.stdout) == []  # the refused run changed nothing
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    # A killed holder leaves no stale lock: the kernel dropped its flock.
    assert lock.holder(store) is None
    result = subprocess.run(
        [KEYTURN, "checklist", "add", "--kind", "vpn_access", "--target", "VPN portal"],
        capture_output=True, text=True, env=cli_env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_lock_is_reentrant_within_one_process(tmp_path):
    app = AppContext(store_path=str(tmp_path / "acme.db"))
    try:
        with app.lock("outer"), app.lock("inner"):
            assert lock.holder(tmp_path / "acme.db")["command"] == "outer"
        assert lock.holder(tmp_path / "acme.db") is None
        with pytest.raises(ZeroDivisionError), app.lock("failing"):
            1 / 0  # noqa: B018
        assert lock.holder(tmp_path / "acme.db") is None
    finally:
        app.close()


def test_run_summary_lines_for_log_shippers(tmp_path):
    from agent.core import logsetup

    log_file = tmp_path / "keyturn.jsonl"
    logsetup.configure(log_file=log_file)
    app = AppContext(store_path=str(tmp_path / "acme.db"))
    try:
        with app.lock("discover"), app.store.run("discover", "alice", "acme") as run_id:
            app.store.finish_run(run_id, "partial", {"hosts": 3})
    finally:
        app.close()
        logsetup.configure()
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    summaries = [line for line in lines if line.get("event") == "run_summary"]
    assert len(summaries) == 1
    assert summaries[0]["run_id"] == run_id and summaries[0]["status"] == "partial"
    assert summaries[0]["command"] == "discover" and summaries[0]["summary"] == {"hosts": 3}


def test_locked_error_names_the_holder(tmp_path):
    store = tmp_path / "acme.db"
    with lock.hold(store, "rotate"):
        fd = os.open(lock.lock_path(store), os.O_RDONLY)
        try:
            assert json.loads(os.pread(fd, 4096, 0))["command"] == "rotate"
        finally:
            os.close(fd)
        holder = start_holder(store, 0, 0)
        assert holder.wait(timeout=30) == LockedError.exit_code
        assert "'keyturn rotate' pid" in holder.stdout.read()
