"""A Samba 4 AD domain controller for the lab, provisioned, populated and run from one directory.

Lifecycle: :func:`provision` -> :func:`populate` (offline, DC stopped) -> :func:`start` inside a
network namespace -> :func:`stop`. Every file, socket and pid of the DC lives under ``workdir``
(keep that path short: unix socket paths there must stay under 108 bytes).

Provisioning (4-9 s) and population (small ~5 s, large with 10,000 users 25-40 s on 2 busy
cores) are cached as tar snapshots in :data:`CACHE_DIR` (small ~105 MB, large ~380 MB; a
restore takes 0.3-0.6 s), keyed by fixture version, realm, domain, IP and size. Only smb.conf holds
absolute paths, and it is rendered afresh on every restore, so a snapshot restores into any
workdir. Snapshots older than :data:`SNAPSHOT_MAX_AGE_DAYS` are rebuilt because the fixture's
"days ago" timestamps (recently created, stale) are relative to population time.

The DC serves LDAPS and StartTLS with a certificate made here: a private CA (``ca_file``) and a
server certificate naming both the DC's DNS name and its IP, so clients validate by IP.
Plain simple binds on 389 stay refused (strongerAuthRequired) unless ``allow_plain_ldap``.

Passwords never touch disk or argv: Administrator's password is applied through the SamDB
helper's stdin before the DC first starts, and the snapshot only ever holds hashes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agent.core.secret import Secret
from lab import ad_expected, ad_fixture
from lab import netns as nsutil
from lab.daemons import daemon_env

CACHE_DIR = Path("/var/cache/keyturn-lab")
SNAPSHOT_MAX_AGE_DAYS = 7
SYSTEM_PYTHON = "/usr/bin/python3"  # the only interpreter with Samba's bindings
HELPER = Path(__file__).parent / "data" / "samdb_apply.py"
HOSTNAME = "dc1"
MARKER = ".keyturn-samba-dc"  # only directories carrying it are ever wiped
PASSWORD_PENDING = ".admin-password-pending"
START_TIMEOUT = 60.0


class SambaDcError(RuntimeError):
    """Provisioning, population or start of the lab DC failed."""


@dataclass
class DcInfo:
    realm: str
    domain: str
    dns_name: str
    ip: str
    base_dn: str
    ca_file: Path
    admin_user: str
    admin_password: Secret
    workdir: Path
    smb_conf: Path

    @property
    def admin_bind_name(self) -> str:
        """The name ldap3 simple binds use (a UPN; Samba also takes DOMAIN\\user or a DN)."""
        return f"{self.admin_user}@{self.realm.lower()}"


def provision(
    workdir: Path,
    *,
    realm: str = "CORP.KEYTURN.TEST",
    domain: str = "CORP",
    ip: str,
    admin_password: Secret | str,
    allow_plain_ldap: bool = False,
) -> DcInfo:
    """Provision (or restore from cache) an empty DC for ``realm`` into ``workdir``."""
    workdir = Path(workdir).absolute()
    info = _info(workdir, realm, domain, ip, Secret(admin_password))
    snapshot = _snapshot_path(info, "provisioned")
    if _fresh(snapshot):
        _restore(snapshot, info, allow_plain_ldap)
        return info
    _wipe(workdir)
    result = subprocess.run(
        [
            "samba-tool",
            "domain",
            "provision",
            f"--targetdir={workdir}",
            f"--realm={info.realm}",
            f"--domain={info.domain}",
            "--server-role=dc",
            "--dns-backend=SAMBA_INTERNAL",
            f"--host-name={HOSTNAME}",
            f"--host-ip={ip}",
            "--option=dns update command = /bin/true",
            f"--option=pid directory = {workdir}/run",
        ],
        capture_output=True,
        text=True,
        env=daemon_env(),
    )
    if result.returncode != 0:
        # samba-tool logs the random admin password it made up; keep it out of the exception.
        tail = [line for line in result.stderr.splitlines()[-15:] if "password" not in line.lower()]
        raise SambaDcError("samba-tool domain provision failed:\n" + "\n".join(tail))
    _make_tls(workdir / "tls", info)
    _write_smb_conf(info, allow_plain_ldap)
    (workdir / PASSWORD_PENDING).touch()
    _save(snapshot, workdir)
    return info


def populate(info: DcInfo, *, size: str = "small") -> dict:
    """Fill the stopped DC with the :mod:`lab.ad_fixture` table; return the expected answers
    (also written to ``workdir/expected.json``)."""
    _refuse_if_running(info)
    fixture = ad_fixture.build(size, dc_sam=f"{HOSTNAME.upper()}$")
    # The content's digest, not only FIXTURE_VERSION, keys the snapshot: parallel branches
    # that change the fixture or the helper must never restore each other's directory.
    snapshot = _snapshot_path(info, f"populated-{size}-{_content_digest(fixture)}")
    expected_file = info.workdir / "expected.json"
    if _fresh(snapshot):
        _restore(snapshot, info, _plain_ldap_allowed(info))
        return json.loads(expected_file.read_text())
    if expected_file.exists():
        raise SambaDcError(f"{info.workdir} is already populated; provision it again first")
    sids = _run_helper(info, populate=_plan(fixture))  # also sets Administrator's password
    (info.workdir / PASSWORD_PENDING).unlink(missing_ok=True)
    expected = ad_expected.expected_answers(
        fixture,
        dns_name=info.realm.lower(),
        netbios_name=info.domain,
        domain_sid=sids["domain_sid"],
        dnsadmins_sid=sids["dnsadmins_sid"],
    )
    expected_file.write_text(json.dumps(expected, indent=1, sort_keys=True))
    _save(snapshot, info.workdir)
    return expected


def start(
    info: DcInfo,
    netns: str,
    *,
    timeout: float = START_TIMEOUT,
    passwords: dict[str, Secret] | None = None,
) -> subprocess.Popen:
    """Run samba inside ``netns`` (which must already hold ``info.ip``); return once LDAPS
    completes a validated TLS handshake on ``info.ip``. ``passwords``: sAMAccountName ->
    password set (offline, with Administrator's) before the DC starts."""
    _refuse_if_running(info)
    if (info.workdir / PASSWORD_PENDING).exists() or passwords:
        _run_helper(info, passwords=passwords)
        (info.workdir / PASSWORD_PENDING).unlink(missing_ok=True)
    for sub in ("run", "log"):
        (info.workdir / sub).mkdir(exist_ok=True)
    with open(info.workdir / "log" / "samba.out", "ab") as out:
        # A session of its own makes the recorded PID (ip netns exec, which stays as samba's
        # parent) the process group of every samba process, so stop() ends exactly this DC.
        proc = subprocess.Popen(
            [
                *nsutil.exec_prefix(netns),
                "samba",
                "-F",
                "--no-process-group",
                "-M",
                "single",
                "-s",
                str(info.smb_conf),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=daemon_env(),
        )
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise SambaDcError(f"samba exited with {proc.returncode}: {_log_tail(info)}")
        if _ldaps_answers(info, netns):
            return proc
        if time.monotonic() > deadline:
            stop(proc)
            raise SambaDcError(
                f"LDAPS on {info.ip} not up after {timeout:.0f} s: {_log_tail(info)}"
            )
        time.sleep(0.25)


def stop(proc: subprocess.Popen, *, timeout: float = 15.0) -> None:
    """Terminate the DC started by :func:`start` (its process group, by recorded PID)."""
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout)
    # Children outlive a dead parent for a moment; the group id is still ours to clean.
    _signal_group(proc.pid, signal.SIGKILL)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _info(workdir: Path, realm: str, domain: str, ip: str, password: Secret) -> DcInfo:
    realm = realm.upper()
    return DcInfo(
        realm=realm,
        domain=domain.upper(),
        dns_name=f"{HOSTNAME}.{realm.lower()}",
        ip=ip,
        base_dn=",".join(f"DC={part}" for part in realm.lower().split(".")),
        ca_file=workdir / "tls" / "ca.pem",
        admin_user="Administrator",
        admin_password=password,
        workdir=workdir,
        smb_conf=workdir / "etc" / "smb.conf",
    )


def _write_smb_conf(info: DcInfo, allow_plain_ldap: bool) -> None:
    w, tls = info.workdir, info.workdir / "tls"
    plain = "\tldap server require strong auth = no\n" if allow_plain_ldap else ""
    info.smb_conf.parent.mkdir(parents=True, exist_ok=True)
    # old password allowed period = 0: a reset password is refused at once, as rotation's
    # verification expects to see (Samba's default, like a Windows DC's NTLM, keeps the old
    # one valid for 60 minutes).
    info.smb_conf.write_text(f"""# Rendered by lab/samba_dc.py on every provision and restore.
[global]
\tnetbios name = {HOSTNAME.upper()}
\trealm = {info.realm}
\tworkgroup = {info.domain}
\tserver role = active directory domain controller
\tinterfaces = {info.ip}
\tbind interfaces only = yes
\tdns update command = /bin/true
\tspn update command = /bin/true
\tprivate dir = {w}/private
\tlock directory = {w}
\tstate directory = {w}/state
\tcache directory = {w}/cache
\tbinddns dir = {w}/bind-dns
\tpid directory = {w}/run
\tncalrpc dir = {w}/run/ncalrpc
\tntp signd socket directory = {w}/run/ntp
\twinbindd socket directory = {w}/run/winbindd
\tlogging = file
\tlog file = {w}/log/samba.log
\tlog level = 1
\ttls enabled = yes
\ttls keyfile = {tls}/server.key
\ttls certfile = {tls}/server.pem
\ttls cafile = {tls}/ca.pem
\told password allowed period = 0
{plain}
[sysvol]
\tpath = {w}/state/sysvol
\tread only = No

[netlogon]
\tpath = {w}/state/sysvol/{info.realm.lower()}/scripts
\tread only = No
""")


def _plain_ldap_allowed(info: DcInfo) -> bool:
    return "require strong auth = no" in info.smb_conf.read_text()


def _make_tls(tls_dir: Path, info: DcInfo) -> None:
    """A throwaway CA and a server certificate valid for the DC's DNS name and its IP."""
    tls_dir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    start, ca_end, cert_end = (
        now - dt.timedelta(days=1),
        now + dt.timedelta(days=3650),
        now + dt.timedelta(days=825),
    )
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"keyturn lab CA {info.realm}")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(ca_end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, info.dns_name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(cert_end)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName(info.dns_name),
                    x509.DNSName(info.realm.lower()),
                    x509.IPAddress(ipaddress.ip_address(info.ip)),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (tls_dir / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tls_dir / "server.pem").write_bytes(cert.public_bytes(pem))
    key_file = tls_dir / "server.key"
    # Samba refuses a key file readable by anyone but its owner.
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
    # The CA key is not kept: nothing re-issues certificates for a snapshot.


def _password(length: int = 24) -> Secret:
    """Random and complex enough for Samba's default policy (3 of 4 character classes): the
    lab's one generator (rotation's), which puts every class in by construction."""
    from rotation.policy import PasswordPolicy

    return PasswordPolicy().generate(length)


def _plan(fixture: ad_fixture.Fixture) -> dict:
    """The fixture as the SamDB helper wants it, with absolute times and fresh passwords."""
    now = dt.datetime.now(dt.UTC)

    def ago(days: int) -> dt.datetime:
        return now - dt.timedelta(days=days)

    def filetime(when: dt.datetime) -> int:
        return int(when.timestamp() * 10_000_000) + 116_444_736_000_000_000

    accounts = []
    for account in fixture.accounts.values():
        entry = {
            k: v
            for k, v in asdict(account).items()
            if k not in ("last_logon_days", "created_days", "pwd_age_days", "rid")
        }
        entry.update(
            when_created=ago(account.created_days).strftime("%Y%m%d%H%M%S.0Z"),
            pwd_last_set=filetime(ago(account.pwd_age_days)),
            last_logon=None
            if account.last_logon_days is None
            else filetime(ago(account.last_logon_days)),
        )
        accounts.append(entry)
    # One password for all bulk users (they share its hashes), one each for the named ones.
    bulk_password = _password()
    for entry in accounts:
        if entry["kind"] != "gmsa" and not entry["builtin"]:
            entry["password"] = bulk_password if entry["bulk"] else _password()
    return {
        "ous": list(fixture.ous),
        "accounts": accounts,
        "groups": [asdict(g) for g in fixture.groups.values()],
        "dcsync": list(fixture.dcsync),
        "adminsdholder": list(fixture.adminsdholder),
    }


def _run_helper(
    info: DcInfo, *, populate: dict | None = None, passwords: dict[str, Secret] | None = None
) -> dict:
    job = {
        "smb_conf": str(info.smb_conf),
        "dns_name": info.realm.lower(),
        "admin_user": info.admin_user,
        "admin_password": info.admin_password,
        "populate": populate,
        "passwords": passwords or {},
    }
    result = subprocess.run(
        [SYSTEM_PYTHON, str(HELPER)],
        input=json.dumps(job, default=_reveal),
        capture_output=True,
        text=True,
        env=daemon_env(),
    )
    if result.returncode != 0:
        # The helper never echoes its input, so its traceback carries no password.
        raise SambaDcError(f"SamDB helper failed: {result.stderr.strip()[-2000:]}")
    return json.loads(result.stdout)


def _reveal(value: object) -> str:
    if isinstance(value, Secret):
        return value.reveal()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _snapshot_path(info: DcInfo, stage: str) -> Path:
    key = json.dumps([ad_fixture.FIXTURE_VERSION, info.realm, info.domain, info.ip, stage])
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return CACHE_DIR / f"samba-dc-{info.realm.lower()}-{info.ip}-{stage}-{digest}.tar"


def _content_digest(fixture: ad_fixture.Fixture) -> str:
    content = json.dumps(asdict(fixture), sort_keys=True).encode() + HELPER.read_bytes()
    return hashlib.sha256(content).hexdigest()[:10]


def _fresh(snapshot: Path) -> bool:
    return (
        snapshot.exists() and time.time() - snapshot.stat().st_mtime < SNAPSHOT_MAX_AGE_DAYS * 86400
    )


def _save(snapshot: Path, workdir: Path) -> None:
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    partial = snapshot.with_suffix(f".{os.getpid()}.partial")
    _tar(
        [
            "--xattrs",
            "--acls",
            "--exclude=./run",
            "--exclude=./log",
            "-C",
            str(workdir),
            "-cf",
            str(partial),
            ".",
        ]
    )
    partial.replace(snapshot)  # atomic: a concurrent restore sees the old or the new tarball


def _restore(snapshot: Path, info: DcInfo, allow_plain_ldap: bool) -> None:
    _wipe(info.workdir)
    _tar(["--xattrs", "--acls", "-C", str(info.workdir), "-xf", str(snapshot)])
    _write_smb_conf(info, allow_plain_ldap)
    (info.workdir / PASSWORD_PENDING).touch()


def _tar(args: list[str]) -> None:
    result = subprocess.run(["tar", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise SambaDcError(f"tar {args[-2:]}: {result.stderr.strip()}")


def _wipe(workdir: Path) -> None:
    """Empty ``workdir`` for a new DC, refusing directories this module did not create."""
    if workdir.exists() and any(workdir.iterdir()) and not (workdir / MARKER).exists():
        raise SambaDcError(f"{workdir} is not empty and not a lab DC directory; not wiping it")
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    (workdir / MARKER).touch()


def _refuse_if_running(info: DcInfo) -> None:
    pid_file = info.workdir / "run" / "samba.pid"
    if not pid_file.exists():
        return
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError):
        return
    raise SambaDcError(f"samba (pid {pid}) is running on {info.workdir}; stop it first")


def _ldaps_answers(info: DcInfo, netns: str) -> bool:
    context = ssl.create_default_context(cafile=str(info.ca_file))
    try:
        with nsutil.inside(netns):
            sock = socket.create_connection((info.ip, 636), timeout=2)
        with context.wrap_socket(sock, server_hostname=info.ip):
            return True
    except ssl.SSLCertVerificationError as exc:
        raise SambaDcError(f"LDAPS on {info.ip}: certificate not ours: {exc}") from exc
    except OSError:
        return False


def _log_tail(info: DcInfo) -> str:
    lines: list[str] = []
    for name in ("samba.out", "samba.log"):
        path = info.workdir / "log" / name
        if path.exists():
            lines += path.read_text(errors="replace").splitlines()[-10:]
    return "\n".join(lines)
