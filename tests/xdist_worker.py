"""Which pytest-xdist worker runs this process (scripts/test.sh runs several side by side)."""

from __future__ import annotations

import os


def worker_index() -> int:
    """0 for the first (or only) worker, 1 for gw1, ...: tests that pick fixed loopback
    addresses offset them by it, so two workers never race for one address's ports."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
