"""SSH device simulators that unchanged netmiko drives (see lab/simulators/README.md)."""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
import time
from pathlib import Path

READY_TIMEOUT = 60.0


def launch(
    spec: dict, spec_path: Path, netns: str | None = None, timeout: float = READY_TIMEOUT
) -> subprocess.Popen:
    """Write `spec` to `spec_path`, start the simulator process and wait for `ready`.

    With `netns`, the process runs inside `ip netns exec NETNS`. The caller owns the
    returned process: record its pid and terminate it when done.
    """
    spec_path = Path(spec_path)
    spec_path.write_text(json.dumps(spec, indent=2))
    command = [sys.executable, "-m", "lab.simulators", "--spec", str(spec_path)]
    if netns:
        command = ["ip", "netns", "exec", netns, *command]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                continue
            line = proc.stdout.readline()
            if line.strip() == "ready":
                return proc
            if not line:
                break  # stdout closed: the process died
    proc.kill()
    proc.wait()
    raise RuntimeError(
        f"device simulators did not become ready (exit code {proc.returncode}); see their stderr"
    )
