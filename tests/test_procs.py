import os
import signal
import subprocess
import sys
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


def test_a_child_started_with_die_with_parent_ends_when_its_parent_is_killed():
    # What a discover killed with SIGKILL does to its nmap: the parent here is a Python
    # process that starts a long sleep the same way, then is killed outright.
    code = (
        "import subprocess, time\n"
        "from agent.core import procs\n"
        "child = subprocess.Popen(['sleep', '60'], preexec_fn=procs.die_with_parent())\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert procs.running(child)
    parent.kill()
    parent.wait()
    for _ in range(100):  # the kernel signals it at once; allow for a busy machine
        if not procs.running(child):
            break
        time.sleep(0.02)
    else:
        os.kill(child, signal.SIGKILL)
        raise AssertionError("the child outlived its parent")
