"""Directory rotation benchmark: kind ``ad`` against a plain ldap3 script doing the same work.

A Samba AD DC runs in a network namespace of its own (tests/ad_rotation_lab.AdLab, no
proxy in the path); the measuring thread and the engine's workers enter that namespace, so
every packet stays inside it. keyturn runs in-process through the use case the CLI calls
(store, audit log, lab cryptfile keyring). The plain script does, per account, what keyturn
must at least do: find the account, reset ``unicodePwd`` over the admin's LDAPS connection
(one connection for the whole run, bound once) and prove the new password with a fresh LDAPS
bind. keyturn adds the escrow and promotion in the keyring, the certificate pin, the policy
read, the old password's refusal (a second bind on the verification connection), the audit
log and the store.

    .venv/bin/python benchmarks/bench_rotate_ad.py [--accounts 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

OLD = "Bench-Old-Pass-01"


def _keyturn(app, targets) -> float:
    from agent.ops import rotate

    started = time.perf_counter()
    outcome = rotate.rotate(app, targets)
    elapsed = time.perf_counter() - started
    bad = [r for r in outcome.results if r.status != "rotated"]
    if bad:
        raise SystemExit(f"benchmark rotation failed: {bad[0].status}: {bad[0].error}")
    return elapsed


def _plain(lab, names: list[str], passwords: dict[str, str], run: int) -> float:
    """The plain ldap3 script: one admin connection, per account search + reset + fresh bind."""
    import ssl

    import ldap3
    from ldap3.utils.conv import escape_filter_chars

    from tests.ad_rotation_lab import DC_IP

    started = time.perf_counter()
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(lab.info.ca_file))
    server = ldap3.Server(DC_IP, port=636, use_ssl=True, tls=tls, get_info=ldap3.NONE)
    realm = lab.info.realm.lower()
    admin = ldap3.Connection(
        server, user=f"Administrator@{realm}", password=lab.admin_password.reveal(),
        auto_bind=True,
    )  # fmt: skip
    for name in names:
        admin.search(lab.base_dn, f"(sAMAccountName={escape_filter_chars(name)})")
        dn = admin.response[0]["dn"]
        new = f"Plain-{run:02d}-{name}-Xy9"
        ok = admin.modify(
            dn, {"unicodePwd": [(ldap3.MODIFY_REPLACE, [f'"{new}"'.encode("utf-16-le")])]}
        )
        assert ok, admin.result
        check = ldap3.Connection(server, user=f"{name}@{realm}", password=new)
        assert check.bind(), check.result
        check.unbind()
        passwords[name] = new
    admin.unbind()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="keyturn-bench-ad-") as tmp:
        root = Path(tmp)
        os.environ.update(
            {
                "PYTHON_KEYRING_BACKEND": "lab.keyring_backend.LabCryptFileKeyring",
                "KEYRING_CRYPTFILE_PASSWORD": "bench-keyring",
                "XDG_DATA_HOME": str(root / "xdg-data"),
                "XDG_CONFIG_HOME": str(root / "xdg-config"),
                "KEYTURN_OPERATOR": "bench",
            }
        )
        from agent.context import AppContext
        from agent.core.secret import Secret
        from lab import netns
        from rotation.targets import DirectoryBinding, ad_target
        from tests.ad_rotation_lab import DC_IP, AdLab

        lab = AdLab(OLD)
        try:
            names = [f"bench-{i}" for i in range(args.accounts)]
            plain_names = [f"plain-{i}" for i in range(args.accounts)]
            for name in [*names, *plain_names]:
                lab.add_account(name, OLD)
            config = root / "site.toml"
            config.write_text(
                f'client = "bench"\nscope = ["{DC_IP}/32"]\n'
                f'[ad]\nserver = "{DC_IP}"\nuser = "Administrator"\n'
            )
            app = AppContext(
                config_path=str(config), store_path=str(root / "bench.db"), non_interactive=True
            )
            binding = DirectoryBinding(DC_IP, 636, "Administrator")
            targets = [ad_target(n, binding, "bench") for n in names]
            store = app.secret_store
            store.put(DC_IP, "Administrator", lab.admin_password, platform="ad")
            for name in names:
                store.put(DC_IP, name, Secret(OLD), platform="ad")
            with netns.inside(lab.ns):  # the engine's threads are born in here too
                _keyturn(app, targets[:1])  # warm-up: pins the certificate, imports load
                single = [_keyturn(app, targets[1:2]) for _ in range(max(5, args.repeat))]
                fleet, plain, passwords = [], [], {}
                for run in range(args.repeat):  # alternated: load hits both alike
                    fleet.append(_keyturn(app, targets))
                    plain.append(_plain(lab, plain_names, passwords, run))
                plain_one = [
                    _plain(lab, plain_names[:1], passwords, 100 + i)
                    for i in range(max(5, args.repeat))
                ]
            app.close()
        finally:
            lab.stop()

    one, many, script, script_one = (
        statistics.median(x) for x in (single, fleet, plain, plain_one)
    )
    figures = {
        "accounts": args.accounts,
        "one_account_s": round(one, 3),
        "directory_run_s": round(many, 3),
        "per_account_in_run_s": round(many / args.accounts, 3),
        "plain_ldap3_run_s": round(script, 3),
        "plain_ldap3_one_account_s": round(script_one, 3),
        "keyturn_over_plain": round(many / script, 2),
        "directory_runs_s": [round(x, 3) for x in fleet],
        "plain_runs_s": [round(x, 3) for x in plain],
    }
    print(f"one account, full lifecycle (median of {len(single)}): {one:6.3f} s")
    print(f"{args.accounts} accounts, keyturn (median of {len(fleet)}):   {many:6.3f} s")
    print(f"{args.accounts} accounts, plain ldap3 script:        {script:6.3f} s")
    print(f"keyturn / plain script:                   {many / script:6.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
