"""Build the lab DC's Samba snapshots before the first ``keyturn lab up`` needs them.

Without a cached snapshot, ``lab up`` provisions and populates a Samba DC itself: measured
63.6 s + 77.6 s on the 2-core machine under load from other work (a restore of both snapshots
took 5.4 s there), against ~4 s for the rest of a warm ``lab up``. scripts/setup.sh runs this
once, so a new user's first lab is a warm one; a fresh snapshot is left alone (one stat).

    python -m lab.samba_warm [--size small|large]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from lab import records, samba_dc, topology


def fresh(size: str = "small") -> bool:
    """True when ``lab up`` would restore both snapshots instead of building them."""
    info = samba_dc._info(Path("/nonexistent"), "CORP.KEYTURN.TEST", "CORP", topology.DC_IP,
                          records.password())  # fmt: skip
    stages = ("provisioned", f"populated-{size}")
    return all(samba_dc._fresh(samba_dc._snapshot_path(info, stage)) for stage in stages)


def warm(size: str = "small") -> float | None:
    """Build the snapshots the lab's DC uses; seconds taken, or None when already fresh."""
    if fresh(size):
        return None
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="keyturn-samba-warm-"))
    try:
        info = samba_dc.provision(workdir / "dc", ip=topology.DC_IP,
                                  admin_password=records.password(length=24))  # fmt: skip
        samba_dc.populate(info, size=size)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.samba_warm", description=__doc__)
    parser.add_argument("--size", choices=("small", "large"), default="small")
    took = warm(parser.parse_args().size)
    print("samba snapshots already fresh" if took is None else f"samba snapshots built in "
          f"{took:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
