"""Benchmark: the whole `keyturn dns` stage on the lab against the same checks done by hand
with checkdmarc (both domains) plus `openssl s_client` for every TLS service.

A small lab is built (with the DC), lab/webdns.py plants the public zones, RDAP and TLS
services, one `keyturn discover` finds the services (not timed), then the two ways run
alternately ``--runs`` times inside the technician namespace (no route out of the lab). The
goal is a keyturn median under 5 s.

    sudo .venv/bin/python benchmarks/bench_dns.py [--runs 3]

keyturn is timed as a whole command (interpreter start, imports, store, audit log), with and
without the AD zones; the baseline as what a technician types: `checkdmarc -n NS DOMAINS`
(SPF, DMARC, MX, NS, DNSSEC; MTA-STS/BIMI fetches find no route and fail fast), `dig AXFR`
per domain, and `openssl s_client -connect HOST:PORT` per service, one after the other.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lab import webdns  # noqa: E402
from lab.site import Lab  # noqa: E402

KEYTURN = str(REPO / ".venv" / "bin" / "keyturn")
CHECKDMARC = str(REPO / ".venv" / "bin" / "checkdmarc")
GOAL_SECONDS = 5.0


def timed(argv: list[str], env: dict[str, str], stdin: str | None = None) -> tuple[float, str]:
    start = time.monotonic()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, input=stdin, timeout=300)
    return time.monotonic() - start, result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="ktdnsb", dir="/tmp"))
    env = dict(os.environ, PYTHON_KEYRING_BACKEND="lab.keyring_backend.LabCryptFileKeyring",
               KEYRING_CRYPTFILE_PASSWORD="bench-keyring", XDG_DATA_HOME=str(base / "d"),
               XDG_CONFIG_HOME=str(base / "c"), KEYTURN_OPERATOR="bench",
               KEYTURN_STORE=str(base / "store.db"))  # fmt: skip
    os.environ.update({k: env[k] for k in ("PYTHON_KEYRING_BACKEND",
                                           "KEYRING_CRYPTFILE_PASSWORD", "XDG_DATA_HOME",
                                           "XDG_CONFIG_HOME")})  # fmt: skip
    lab = Lab.up("small")
    try:
        info = webdns.plant(lab)
        config = base / "site.toml"
        config.write_text(lab.site_config_path.read_text() + info.config_toml())
        env["KEYTURN_CONFIG"] = str(config)
        pre = lab.exec_prefix()
        subprocess.run(
            [*pre, KEYTURN, "discover", "--ports", "22,53,80,443,636,5001,8443"],
            env=env,
            capture_output=True,
            timeout=600,
        )
        hosts = len(lab.manifest["hosts"])
        services = [*sorted(webdns.EXPECTED_CERTS), (lab.manifest["ad"]["server"], 636)]
        runs: dict[str, list[float]] = {"keyturn": [], "keyturn_no_ad": [], "baseline": []}
        stages: list[dict] = []
        for _ in range(args.runs):
            seconds, out = timed([*pre, KEYTURN, "dns", "--json", "-"], env)
            runs["keyturn"].append(seconds)
            stages.append(json.loads(out)["timings"])
            runs["keyturn_no_ad"].append(timed([*pre, KEYTURN, "dns", "--no-ad"], env)[0])
            start = time.monotonic()
            timed([*pre, CHECKDMARC, "-n", info.nameserver, *info.domains], env)
            for domain in info.domains:
                timed([*pre, "dig", f"@{info.nameserver}", domain, "AXFR"], env)
            for host, port in services:
                timed([*pre, "openssl", "s_client", "-connect", f"{host}:{port}",
                       "-cipher", "ALL:@SECLEVEL=0"], env, stdin="")  # fmt: skip
            runs["baseline"].append(time.monotonic() - start)
        webdns.unplant(lab, info)
    finally:
        lab.down()
    medians = {k: round(statistics.median(v), 2) for k, v in runs.items()}
    print(json.dumps({"hosts": hosts, "tls_services": len(services), "runs": args.runs,
                      "median_seconds": medians,
                      "all_seconds": {k: [round(x, 2) for x in v] for k, v in runs.items()},
                      "keyturn_internal_timings": stages,
                      "goal_seconds": GOAL_SECONDS,
                      "goal_met": medians["keyturn"] < GOAL_SECONDS}, indent=1))  # fmt: skip
    return 0 if medians["keyturn"] < GOAL_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
