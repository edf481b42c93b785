"""Real daemons inside host namespaces: OpenSSH sshd, net-snmp snmpd and the services process.

Each runs under ``ip netns exec`` (which also gives it a private mount namespace), logs to a
file in the host's state directory, and is "ready" when its log says so. Processes start in a
session of their own so closing the terminal that ran ``keyturn lab up`` leaves the lab up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from agent.core import procs
from agent.core.secret import Secret
from lab import netns
from lab.topology import LINUX_ADMIN, ROUTED, ROUTER_LAN_IP, HostSpec

SSHD = "/usr/sbin/sshd"
SNMPD = "/usr/sbin/snmpd"
READY_TIMEOUT = 20.0
LINUX_ADMIN_UID = 4242


class DaemonError(RuntimeError):
    """A lab daemon did not start."""


def daemon_env(**extra: str) -> dict[str, str]:
    """The minimal child environment (agent.core.procs.child_env) plus ``extra``. Lab daemons
    outlive ``keyturn lab up`` and their environment stays readable in /proc/PID/environ for
    as long as the lab is up: KEYRING_CRYPTFILE_PASSWORD or an [ad] password variable must
    not be there."""
    return procs.child_env(**extra)


def spawn(
    ns: str,
    argv: list[str],
    log: Path,
    *,
    env: dict[str, str] | None = None,
    stdin_text: str | None = None,
) -> subprocess.Popen:
    """Start ``argv`` inside ``ns`` with stdout+stderr appended to ``log``; ``env`` defaults
    to daemon_env()."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [*netns.exec_prefix(ns), *argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
            env=daemon_env() if env is None else env,
            start_new_session=True,
        )
    if stdin_text is not None:
        assert proc.stdin is not None
        proc.stdin.write(stdin_text.encode())
        proc.stdin.close()
    return proc


def wait_ready(
    proc: subprocess.Popen, log: Path, marker: str, timeout: float = READY_TIMEOUT
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    tail = log.read_text(errors="replace")[-600:]
    raise DaemonError(f"{' '.join(proc.args[4:6])} not ready (exit {proc.poll()}): {tail}")


def start_services(ns: str, hosts: list[dict], workdir: Path, tag: str) -> subprocess.Popen:
    """The asyncio process serving HTTP/9100/3389/445/5060 for ``hosts``; log ``<tag>.log``."""
    spec = workdir / f"{tag}.json"
    spec.write_text(json.dumps(hosts, indent=1))
    return _python(ns, ["lab.services", "--spec", str(spec)], workdir / f"{tag}.log")


def start_simulator(ns: str, spec: dict, hostdir: Path) -> subprocess.Popen:
    """``python -m lab.simulators`` for one device (the documented entry point; run here rather
    than through ``launch`` so it logs to a file and outlives the ``lab up`` command)."""
    path = hostdir / "simulator.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(spec, out)
    return _python(ns, ["lab.simulators", "--spec", str(path)], hostdir / "simulator.log")


def _python(ns: str, module_argv: list[str], log: Path) -> subprocess.Popen:
    env = daemon_env(PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    return spawn(ns, [sys.executable, "-m", *module_argv], log, env=env)


def start_sshd(
    ns: str, host: HostSpec, hostdir: Path, admin_password: Secret | None
) -> subprocess.Popen:
    """OpenSSH on ``host.ip``:22 with its own config and host key.

    The host's directory is bind-mounted on /mnt (because /run, where it lives, gets a private
    tmpfs for /run/sshd). With an admin password, /etc gets a private overlay holding a local
    account, so ``passwd`` inside the lab changes a shadow file no one else sees; the password
    reaches chpasswd on stdin, never argv or disk.
    """
    key = hostdir / "ssh_host_ed25519_key"
    if not key.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host.name, "-f", str(key)],
            check=True,
            capture_output=True,
        )
    # The Linux router's sshd listens on all its addresses, the WAN leg's too (the planted
    # "SSH from the WAN"); its namespace holds nothing but its own legs.
    listen = "0.0.0.0" if host.rulebase else host.ip
    (hostdir / "sshd_config").write_text(
        f"ListenAddress {listen}:22\nHostKey /mnt/ssh_host_ed25519_key\nPidFile none\n"
        "UsePAM no\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin no\nStrictModes no\nPrintMotd no\nMaxStartups 100:30:200\n"
        "Subsystem sftp internal-sftp\n"
    )
    script = [
        f"mount --bind '{hostdir}' /mnt",
        "mount -t tmpfs -o mode=755 tmpfs /run",
        "mkdir -m 755 /run/sshd",
    ]
    stdin_text = None
    if admin_password is not None:
        user, uid = LINUX_ADMIN, LINUX_ADMIN_UID
        script += [
            "mkdir -p /mnt/etc-upper /mnt/etc-work /mnt/home",
            "mount -t overlay overlay -o lowerdir=/etc,upperdir=/mnt/etc-upper,"
            "workdir=/mnt/etc-work /etc",
            f"echo '{user}:x:{uid}:{uid}:IT admin:/mnt/home/{user}:/bin/bash' >> /etc/passwd",
            f"echo '{user}:!:19000:0:99999:7:::' >> /etc/shadow",
            f"echo '{user}:x:{uid}:' >> /etc/group",
            f"mkdir -p /mnt/home/{user} && chown {uid}:{uid} /mnt/home/{user}",
            # pam_unix sleeps ~2 s after a failed password unless told not to.
            "sed -i 's/pam_unix.so /pam_unix.so nodelay /' /etc/pam.d/common-auth",
            "chpasswd",
        ]
        stdin_text = f"{user}:{admin_password.reveal()}\n"
        if host.rulebase:
            (hostdir / "telnetd.py").write_text(TELNETD)
            script += _router_setup(host.rulebase, user)
    script.append(f"exec {SSHD} -D -e -f /mnt/sshd_config")
    log = hostdir / "sshd.log"
    return spawn(ns, ["sh", "-ec", " && ".join(script)], log, stdin_text=stdin_text)


# The Linux router's legs (nothing they "send" leaves its namespace), addresses from
# the lab's own 198.18.0.0/15; the default route leaves by wan0, which makes it the WAN side.
ROUTER_LEGS = (("lan0", "198.19.10.1/24"), ("lan1", "198.19.20.1/24"), ("wan0", "198.19.255.2/30"))
ROUTER_DEFAULT = "198.19.255.1"
RULESETS = Path(__file__).parent / "data" / "review"


# A telnet daemon's front door: the banner and login prompt, then the connection ends.
TELNETD = """import asyncio


async def greet(reader, writer):
    writer.write(b"Debian GNU/Linux 12\\r\\nnft-gw1 login: ")
    await writer.drain()
    try:
        await asyncio.wait_for(reader.readline(), 10)
    except (asyncio.TimeoutError, ConnectionError):
        pass
    writer.close()


async def main():
    server = await asyncio.start_server(greet, "0.0.0.0", 23)
    async with server:
        await server.serve_forever()


asyncio.run(main())
"""


def _router_setup(ruleset: str, user: str) -> list[str]:
    """Shell steps that make an sshd host the lab's Linux router: legs, routes (the lab's
    routed subnet stays reachable through the lab gateway), the nftables ruleset, and a sudo
    rule that lets the admin read the ruleset (nft and iptables-save need CAP_NET_ADMIN even
    to list) and nothing else. Runs inside the host's namespace once /etc has its overlay."""
    path = (RULESETS / ruleset).resolve()
    if path.parent != RULESETS.resolve() or not path.is_file():
        raise ValueError(f"no ruleset {ruleset!r} in {RULESETS}")
    steps = []
    for name, address in ROUTER_LEGS:
        # A veth whose peer stays in the same namespace (no dummy module everywhere): what
        # the leg "sends" comes back on the peer, inside the router's own namespace.
        steps += [
            f"ip link add {name} type veth peer name {name}-peer",
            f"ip address add {address} dev {name}",
            f"ip link set {name}-peer up",
            f"ip link set {name} up",
        ]
    readers = (
        "/usr/sbin/nft -j list ruleset, /usr/sbin/nft list ruleset, /usr/sbin/iptables-save -c"
    )
    rule = f"{user} ALL=(root) NOPASSWD: {readers}"
    return [
        *steps,
        f"ip route add {ROUTED} via {ROUTER_LAN_IP}",
        f"ip route replace default via {ROUTER_DEFAULT} dev wan0",
        f"nft -f '{path}'",
        # The telnet service the ruleset lets in from the LAN (a login banner, no shell).
        f"({sys.executable} /mnt/telnetd.py >/mnt/telnetd.log 2>&1 &)",
        f"echo '{rule}' > /etc/sudoers.d/keyturn-review",
        "chmod 0440 /etc/sudoers.d/keyturn-review",
    ]


def _switch_tables(host: HostSpec, hostdir: Path) -> str:
    """A simulated switch's LLDP, bridge, ifName and ARP tables come from the wiring its
    SSH simulator answers from (lab/snmp_tables.py)."""
    if host.device_class != "switch" or not host.platform:
        return ""
    from lab.snmp_tables import SUBTREES

    return "".join(
        f"pass_persist .{base} {sys.executable} -m lab.snmp_tables {hostdir / 'sim'} .{base}\n"
        for base in SUBTREES
    )


def start_snmpd(ns: str, host: HostSpec, hostdir: Path, community: str) -> subprocess.Popen:
    assert host.snmp is not None
    conf = hostdir / "snmpd.conf"
    conf.write_text(
        f"agentAddress udp:{host.ip}:161\n"
        f"rocommunity {community} default\n"
        f"sysDescr {host.snmp.sys_descr}\n"
        f"sysObjectID {host.snmp.sys_object_id}\n"
        f"sysName {host.name}\n"
        "sysLocation Server room\nsysContact it@example.test\nsysServices 78\n"
        + _switch_tables(host, hostdir)
    )
    persist = hostdir / "snmp"
    persist.mkdir(exist_ok=True)
    # No MIB loading: it is slow, noisy, and the lab answers numeric OIDs anyway.
    env = daemon_env(
        SNMP_PERSISTENT_DIR=str(persist),
        MIBS="",
        MIBDIRS="/nonexistent",
        PYTHONPATH=str(Path(__file__).resolve().parent.parent),
    )
    log = hostdir / "snmpd.log"
    # smux (TCP 199) is off: an nmap -sV probe on it freezes snmpd's UDP side.
    return spawn(ns, [SNMPD, "-f", "-Lo", "-C", "-I", "-smux", "-c", str(conf)], log, env=env)
