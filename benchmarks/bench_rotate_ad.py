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

It also times kind ``windows_local`` (rid:500 of a Samba standalone host beside the DC, one
account per run) against a plain impacket script: login, SAMR reset, fresh login.

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


SMB_IP = "198.18.250.31"  # a Samba standalone host beside the DC, in the DC's namespace


def _windows_local(app, lab, repeat: int) -> tuple[list[float], list[float]]:
    """Kind windows_local, one account per run (rid:500 renamed "admin-old"), against a
    plain impacket script: login, SAMR reset (level 18), fresh login with the new password."""
    from impacket.dcerpc.v5 import samr, transport
    from impacket.smbconnection import SMBConnection

    from agent.core.secret import Secret
    from lab import netns, smb_host
    from rotation.contract import Target

    netns.ip("addr", "add", f"{SMB_IP}/24", "dev", "dc0", netns=lab.ns)
    server = smb_host.create(SMB_IP, lab.ns, netbios="BENCH", admin_name="admin-old",
                             admin_password=OLD)  # fmt: skip
    host = smb_host.start(server)
    try:
        app.secret_store.put(SMB_IP, "rid:500", Secret(OLD), platform="windows_local")
        target = Target(SMB_IP, "windows_local", "rid:500", port=445)
        with netns.inside(lab.ns):
            _keyturn(app, [target])  # warm-up: imports, the anonymous name lookup
            ours = [_keyturn(app, [target]) for _ in range(max(5, repeat))]
            plain, password = [], app.secret_store.get(SMB_IP, "rid:500").reveal()
            for run in range(max(5, repeat)):
                started = time.perf_counter()
                new = f"Plain-{run:02d}-Xy9-local"
                smb = SMBConnection(SMB_IP, SMB_IP, sess_port=445)
                smb.login("admin-old", password)
                rpc = transport.SMBTransport(SMB_IP, filename=r"\samr", smb_connection=smb)
                dce = rpc.get_dce_rpc()
                dce.connect()
                dce.bind(samr.MSRPC_UUID_SAMR)
                server = samr.hSamrConnect(dce)["ServerHandle"]
                domains = samr.hSamrEnumerateDomainsInSamServer(dce, server)["Buffer"]["Buffer"]
                name = next(d["Name"] for d in domains if d["Name"].lower() != "builtin")
                sid = samr.hSamrLookupDomainInSamServer(dce, server, name)["DomainId"]
                domain = samr.hSamrOpenDomain(dce, server, domainId=sid)["DomainHandle"]
                user = samr.hSamrOpenUser(dce, domain, userId=500)["UserHandle"]
                samr.hSamrSetNTInternal1(dce, user, new)
                dce.disconnect()
                smb.close()
                check = SMBConnection(SMB_IP, SMB_IP, sess_port=445)
                check.login("admin-old", new)
                check.close()
                plain.append(time.perf_counter() - started)
                password = new
                # keyturn's next run starts from the password the keyring holds.
                app.secret_store.put(SMB_IP, "rid:500", Secret(new), platform="windows_local")
    finally:
        smb_host.stop(host)
    return ours, plain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    parser.add_argument(
        "--no-windows-local", action="store_true", help="skip the windows_local figures"
    )
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
        from rotation.binding import DirectoryBinding
        from rotation.targets import ad_target
        from tests.ad_rotation_lab import DC_IP, AdLab

        lab = AdLab(OLD)
        try:
            names = [f"bench-{i}" for i in range(args.accounts)]
            plain_names = [f"plain-{i}" for i in range(args.accounts)]
            for name in [*names, *plain_names]:
                lab.add_account(name, OLD)
            config = root / "site.toml"
            config.write_text(
                f'client = "bench"\nscope = ["{DC_IP}/32", "{SMB_IP}/32"]\n'
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
            local, local_plain = (
                ([], []) if args.no_windows_local else _windows_local(app, lab, args.repeat)
            )
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
    if local:
        figures.update(
            windows_local_one_account_s=round(statistics.median(local), 3),
            plain_impacket_one_account_s=round(statistics.median(local_plain), 3),
            windows_local_over_plain=round(
                statistics.median(local) / statistics.median(local_plain), 2
            ),
        )
        print(f"windows_local, one account (median of {len(local)}): "
              f"{statistics.median(local):6.3f} s; plain impacket "
              f"{statistics.median(local_plain):6.3f} s")  # fmt: skip
    print(f"one account, full lifecycle (median of {len(single)}): {one:6.3f} s")
    print(f"{args.accounts} accounts, keyturn (median of {len(fleet)}):   {many:6.3f} s")
    print(f"{args.accounts} accounts, plain ldap3 script:        {script:6.3f} s")
    print(f"keyturn / plain script:                   {many / script:6.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
