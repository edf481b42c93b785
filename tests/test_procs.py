import os
import subprocess
import time

from agent.core import procs


def test_running_child_then_finished_unreaped_child_is_not_running():
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert procs.running(child.pid)
        # Any live state: a child still exec'ing under load is briefly in D (disk sleep).
        assert procs.state(child.pid) not in ("Z", "X")
    finally:
        child.kill()
    # Killed but not yet waited for: a zombie, which must count as gone (and gets reaped).
    deadline = time.monotonic() + 5
    while procs.state(child.pid) not in ("Z", "X") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not procs.running(child.pid)
    assert procs.state(child.pid) == "X"


def test_no_pid_and_own_pid():
    assert not procs.running(None)
    assert not procs.running(0)
    assert procs.running(os.getpid())
