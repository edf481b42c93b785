"""A Windows-like host for kind ``windows_local``: a Samba standalone server in a namespace,
with real local accounts in its own passdb, one of them the RID-500 Administrator (possibly
renamed or localised, created with an explicit ``-500`` SID by pdbedit).

smbd needs a Unix account for every SMB account: they live in private copies of passwd and
group bind-mounted over the host's in a mount namespace of the server's own (the host's /etc
is never touched). The RID-500 account maps to uid 0, which is what lets it write the
passdb over SAMR (Samba allows that to root or holders of SeAddUsersPrivilege); other
accounts get ordinary uids. Passwords reach pdbedit on stdin, never argv or environment.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from agent.core.procs import child_env
from lab import netns as nsutil

START_TIMEOUT = 30.0


@dataclass
class SmbHost:
    ip: str
    netns: str
    workdir: Path
    admin_name: str
    accounts: dict[str, str] = field(default_factory=dict)  # name -> uid
    proc: subprocess.Popen | None = None

    @property
    def conf(self) -> Path:
        return self.workdir / "smb.conf"


def _conf(host: SmbHost, netbios: str, options: dict[str, str]) -> str:
    w = host.workdir
    extra = "".join(f"\t{key} = {value}\n" for key, value in options.items())
    return f"""[global]
\tnetbios name = {netbios}
\tworkgroup = WORKGROUP
\tserver role = standalone server
\tinterfaces = {host.ip}
\tbind interfaces only = yes
\tsmb ports = 445
\tdisable netbios = yes
\tpassdb backend = tdbsam:{w}/private/passdb.tdb
\tprivate dir = {w}/private
\tlock directory = {w}/lock
\tstate directory = {w}/state
\tcache directory = {w}/cache
\tpid directory = {w}/run
\tncalrpc dir = {w}/run/ncalrpc
\tlog file = {w}/log/smbd.log
\tlog level = 1
\tload printers = no
\tprinting = bsd
\tprintcap name = /dev/null
\tdisable spoolss = yes
\tunix password sync = no
\tpam password change = no
\tserver min protocol = SMB2_02
{extra}"""


def _shell(host: SmbHost) -> list[str]:
    """Run a command inside the host's namespace with its private passwd/group mounted."""
    etc = host.workdir / "etc"
    mounts = f"mount --bind {etc}/passwd /etc/passwd && mount --bind {etc}/group /etc/group && "
    return [*nsutil.exec_prefix(host.netns), "unshare", "--mount", "sh", "-c", mounts + '"$@"', "-"]


def create(
    ip: str,
    netns: str,
    *,
    netbios: str,
    admin_name: str,
    admin_password: str,
    users: dict[str, str] | None = None,
    workdir: Path | None = None,
    options: dict[str, str] | None = None,
) -> SmbHost:
    """Write the server's config, passwd/group copies and passdb (not started yet), in
    ``workdir`` (made here; default a fresh folder under /tmp). Keep its path short: smbd's
    sockets live under it. ``options``: more [global] smb.conf settings."""
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="kt-smb-", dir="/tmp"))
    else:
        workdir.mkdir(mode=0o700)
    host = SmbHost(ip, netns, workdir, admin_name)
    for sub in ("private", "lock", "state", "cache", "run", "log", "etc"):
        (workdir / sub).mkdir(mode=0o700)
    host.conf.write_text(_conf(host, netbios, options or {}))
    passwd = Path("/etc/passwd").read_text()
    group = Path("/etc/group").read_text()
    accounts = {admin_name: (0, admin_password)}
    for number, (name, password) in enumerate((users or {}).items()):
        accounts[name] = (42000 + number, password)
    for name, (uid, _) in accounts.items():
        passwd += f"{name}:x:{uid}:{uid if uid else 0}::/nonexistent:/usr/sbin/nologin\n"
        if uid:
            group += f"{name}:x:{uid}:\n"
    (workdir / "etc" / "passwd").write_text(passwd)
    (workdir / "etc" / "group").write_text(group)
    for name, (uid, password) in accounts.items():
        rid = ["-U", "500"] if uid == 0 else []
        subprocess.run(
            [*_shell(host), "pdbedit", "-s", str(host.conf), "-a", "-t", "-u", name, *rid],
            input=f"{password}\n{password}\n",
            capture_output=True,
            text=True,
            check=True,
            env=child_env(),
        )
        host.accounts[name] = str(uid)
    return host


def set_disabled(host: SmbHost, name: str, disabled: bool) -> None:
    """Disable (or enable again) an account in the host's passdb: its logons are then
    refused with STATUS_ACCOUNT_DISABLED, while sessions already open stay (a test's way to
    make a verification logon fail). ``name`` is the account's current name."""
    subprocess.run(
        [*_shell(host), "pdbedit", "-s", str(host.conf), "-u", name, "-c",
         "[D]" if disabled else "[]"],
        capture_output=True, text=True, check=True, env=child_env(),
    )  # fmt: skip


def start(host: SmbHost) -> SmbHost:
    with open(host.workdir / "log" / "smbd.out", "ab") as out:
        host.proc = subprocess.Popen(
            [*_shell(host), "smbd", "-F", "--no-process-group", "-s", str(host.conf)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=child_env(),
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if host.proc.poll() is not None:
            raise RuntimeError(f"smbd exited with {host.proc.returncode}")
        if _answers(host):
            return host
        time.sleep(0.2)
    stop(host)
    raise RuntimeError(f"smbd on {host.ip} not up after {START_TIMEOUT:.0f} s")


def _answers(host: SmbHost) -> bool:
    import socket

    with nsutil.inside(host.netns):
        sock = socket.socket()
    sock.settimeout(1)
    try:
        sock.connect((host.ip, 445))
    except OSError:
        return False
    finally:
        sock.close()
    return True


def stop(host: SmbHost) -> None:
    """End this server's process group (by recorded PID) and remove its files."""
    if host.proc is not None and host.proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(host.proc.pid, signal.SIGTERM)
            host.proc.wait(10)
    if host.proc is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(host.proc.pid, signal.SIGKILL)
    # smbd starts samba-dcerpcd on demand, which detaches (its own session, parent init) and
    # starts the rpcd_* workers: the process group above misses them. They carry this
    # server's own configfile path (a fresh temp folder), which identifies them exactly.
    for pid in _processes_with_config(host.conf):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(host.workdir, ignore_errors=True)


def _processes_with_config(config: Path) -> list[int]:
    marker = f"--configfile={config}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        if marker in argv:
            found.append(int(entry.name))
    return found
