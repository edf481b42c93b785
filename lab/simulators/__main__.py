"""`python -m lab.simulators --spec SPEC.json`: serve the spec's devices until SIGTERM.

Prints one line `ready` on stdout once every listener is up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import warnings
from pathlib import Path

from lab.simulators.server import DeviceSpec, serve


async def _main(spec_path: Path) -> None:
    spec = json.loads(spec_path.read_text())
    specs = [DeviceSpec.from_json(d) for d in spec["devices"]]
    ready, stop = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = asyncio.create_task(serve(specs, ready, stop))
    ready_wait = asyncio.create_task(ready.wait())
    await asyncio.wait({server, ready_wait}, return_when=asyncio.FIRST_COMPLETED)
    if ready.is_set():
        print("ready", flush=True)
    else:
        ready_wait.cancel()
    await server


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.simulators", description=__doc__)
    parser.add_argument("--spec", type=Path, required=True, help="device spec JSON")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    # Legacy devices use finite-field DH on purpose; the deprecation is the point.
    warnings.filterwarnings("ignore", message="Diffie-Hellman over finite fields")
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    asyncio.run(_main(args.spec))


if __name__ == "__main__":
    main()
