"""Benchmark: a full `keyturn ad` run vs ldapdomaindump against the same 10,000-user Samba DC.

Both run as processes inside the DC's namespace, alternately, ``--runs`` times each; the
medians are compared. keyturn's LDAP round trips come from its own JSON document. The goal
is a keyturn median <= 10 s and below ldapdomaindump's.

    sudo .venv/bin/python benchmarks/bench_ad.py [--runs 3] [--size large]

ldapdomaindump gets the lab password on stdin through a small wrapper (never on argv) and
writes JSON only (its HTML and greppable output would only make it slower).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.directory.audit import AuditOptions  # noqa: E402
from lab import netns, samba_dc  # noqa: E402
from lab.samba_dc import _password  # noqa: E402

KEYTURN = str(REPO / ".venv" / "bin" / "keyturn")
PYTHON = str(REPO / ".venv" / "bin" / "python")
DC_IP = "198.18.250.41"
GOAL_SECONDS = 10.0

LDAPDOMAINDUMP = """
import sys
from ldapdomaindump import main
password = sys.stdin.readline().rstrip("\\n")
sys.argv = ["ldapdomaindump", "-u", sys.argv[1], f"--password={password}", "-at", "SIMPLE",
            "--no-html", "--no-grep", "-o", sys.argv[2], sys.argv[3]]
main()
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", default="large", choices=["small", "large"])
    args = parser.parse_args()

    ns = f"kt-adbench-{os.getpid()}"
    workdir = Path(tempfile.mkdtemp(prefix="ktadb", dir="/tmp"))
    password = _password()
    proc = None
    netns.create(ns)
    try:
        netns.ip("addr", "add", f"{DC_IP}/32", "dev", "lo", netns=ns)
        started = time.monotonic()
        info = samba_dc.provision(workdir / "dc", ip=DC_IP, admin_password=password)
        expected = samba_dc.populate(info, size=args.size)
        proc = samba_dc.start(info, ns)
        print(
            f"DC with {expected['user_count']} users up in {time.monotonic() - started:.1f} s",
            flush=True,
        )
        env = _env(workdir, password.reveal())
        config = workdir / "site.toml"
        config.write_text('client = "bench"\nscope = ["198.18.250.0/24"]\n')
        keyturn_times, dump_times, round_trips = [], [], None
        for run in range(args.runs):
            seconds, doc = _keyturn(ns, config, info, env, workdir)
            keyturn_times.append(seconds)
            round_trips = doc["ldap"]["round_trips"]
            _check(doc, expected)
            dump_times.append(_ldapdomaindump(ns, info, password.reveal(), workdir / f"d{run}"))
            print(
                f"run {run + 1}: keyturn {seconds:.2f} s, ldapdomaindump {dump_times[-1]:.2f} s",
                flush=True,
            )
    finally:
        if proc is not None:
            samba_dc.stop(proc)
        netns.delete(ns)
        shutil.rmtree(workdir, ignore_errors=True)
    ours, theirs = statistics.median(keyturn_times), statistics.median(dump_times)
    print(f"\nusers: {expected['user_count']}  runs: {args.runs}")
    print(f"keyturn ad       median {ours:6.2f} s  (LDAP round trips: {round_trips})")
    print(f"ldapdomaindump   median {theirs:6.2f} s")
    verdict = ours <= GOAL_SECONDS and ours < theirs
    print(
        f"goal (<= {GOAL_SECONDS:.0f} s and faster than ldapdomaindump): "
        f"{'met' if verdict else 'MISSED'}"
    )
    return 0 if verdict else 1


def _env(workdir: Path, password: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "PYTHON_KEYRING_BACKEND": "lab.keyring_backend.LabCryptFileKeyring",
        "KEYRING_CRYPTFILE_PASSWORD": "bench-keyring-unlock",
        "XDG_DATA_HOME": str(workdir / "xdg-data"),
        "XDG_CONFIG_HOME": str(workdir / "xdg-config"),
        "KEYTURN_STORE": str(workdir / "store" / "bench.db"),
        "KEYTURN_OPERATOR": "bench",
        "PYTHONPATH": str(REPO),
        "BENCH_AD_PASSWORD": password,
    })  # fmt: skip
    return env


def _keyturn(ns: str, config: Path, info, env: dict, workdir: Path) -> tuple[float, dict]:
    out = workdir / "keyturn.json"
    argv = [
        *netns.exec_prefix(ns),
        KEYTURN,
        "-q",
        "--config",
        str(config),
        "ad",
        "--server",
        info.ip,
        "--user",
        info.admin_bind_name,
        "--ca-file",
        str(info.ca_file),
        "--password-env",
        "BENCH_AD_PASSWORD",
        "--stale-days",
        str(AuditOptions().stale_days),
        "--json",
        str(out),
    ]
    started = time.monotonic()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - started
    if result.returncode not in (0, 1):
        raise SystemExit(f"keyturn ad failed: {result.stderr.strip()}")
    return seconds, json.loads(out.read_text())


def _ldapdomaindump(ns: str, info, password: str, outdir: Path) -> float:
    outdir.mkdir()
    argv = [
        *netns.exec_prefix(ns),
        PYTHON,
        "-c",
        LDAPDOMAINDUMP,
        f"{info.domain}\\{info.admin_user}",
        str(outdir),
        f"ldaps://{info.ip}",
    ]
    started = time.monotonic()
    result = subprocess.run(
        argv, input=password + "\n", capture_output=True, text=True, timeout=900
    )
    seconds = time.monotonic() - started
    if result.returncode != 0 or not (outdir / "domain_users.json").exists():
        raise SystemExit(f"ldapdomaindump failed: {result.stderr.strip()[-500:]}")
    return seconds


def _check(doc: dict, expected: dict) -> None:
    """A fast run that misses people is no win: the counts must match the fixture."""
    if doc["counts"]["users"] != expected["user_count"]:
        raise SystemExit(
            f"keyturn saw {doc['counts']['users']} users, expected {expected['user_count']}"
        )
    domain_admins = next(g for g in doc["privileged_groups"] if g["rid"] == 512)
    if len(domain_admins["members"]) != len(expected["privileged"]["Domain Admins"]["members"]):
        raise SystemExit("keyturn's Domain Admins differ from the fixture")


if __name__ == "__main__":
    sys.exit(main())
