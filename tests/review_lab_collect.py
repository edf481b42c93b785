"""Run inside the lab's technician namespace (tests/test_review_lab.py): read each firewall
given on argv read-only through the review's own session and collection code, and write
what was collected as JSON. A script, not a test: packets to the lab may only leave from
inside its namespaces."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict


def main(out: str, targets: str) -> None:
    from agent.context import AppContext
    from agent.ops.devices import Device
    from agent.ops.review_session import read_device
    from rotation.hostkeys import HostKeyPins
    from rotation.lifecycle import known_hosts_next_to

    app = AppContext()
    guard = app.config.scope_guard()
    pins = HostKeyPins(known_hosts_next_to(app.resolved_store_path))
    result = {}
    for name, target in json.loads(targets).items():
        started = time.monotonic()
        read = read_device(app, guard, pins, Device(**target))
        collected = asdict(read.collected) if read.collected else None
        result[name] = {
            "collected": collected,
            "errors": read.errors,
            "seconds": round(time.monotonic() - started, 3),
        }
    with open(out, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
