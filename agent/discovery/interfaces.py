"""The IPv4 interfaces of the namespace keyturn runs in, and which of them is local to a scope."""

from __future__ import annotations

import fcntl
import ipaddress
import json
import socket
import struct
import subprocess
from dataclasses import dataclass

from agent.core import procs
from agent.core.errors import OperationFailed, PrivilegeError

SIOCGIFHWADDR = 0x8927


@dataclass(frozen=True)
class Interface:
    name: str
    mac: str
    address: ipaddress.IPv4Address
    network: ipaddress.IPv4Network


def local_interfaces() -> list[Interface]:
    """Every up, non-loopback interface with an IPv4 address (one entry per address).

    ``ip -j`` rather than ioctls: it lists secondary addresses too, and it reads the namespace
    of this thread (``/sys`` may show another namespace's devices after a setns).
    """
    out = _ip("-j", "-4", "addr", "show")
    result = []
    for link in json.loads(out or "[]"):
        if "LOOPBACK" in link.get("flags", []) or "UP" not in link.get("flags", []):
            continue
        for info in link.get("addr_info", []):
            if info.get("family") != "inet":
                continue
            iface = ipaddress.IPv4Interface(f"{info['local']}/{info['prefixlen']}")
            result.append(
                Interface(link["ifname"], _hwaddr(link["ifname"]), iface.ip, iface.network)
            )
    return result


@dataclass(frozen=True)
class Route:
    network: ipaddress.IPv4Network
    dev: str
    gateway: ipaddress.IPv4Address | None


def routes() -> list[Route]:
    """The main IPv4 routing table, most specific first."""
    found = []
    for entry in json.loads(_ip("-j", "-4", "route", "show") or "[]"):
        dst = "0.0.0.0/0" if entry.get("dst") == "default" else entry.get("dst", "")
        try:
            network = ipaddress.IPv4Network(dst if "/" in dst else f"{dst}/32")
        except ValueError:
            continue
        gateway = entry.get("gateway")
        found.append(
            Route(
                network, entry.get("dev", ""), ipaddress.IPv4Address(gateway) if gateway else None
            )
        )
    return sorted(found, key=lambda r: r.network.prefixlen, reverse=True)


def _ip(*args: str) -> str:
    try:
        return procs.run(["ip", *args], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise OperationFailed(f"cannot read the network setup with ip(8): {exc}") from exc


def _hwaddr(name: str) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        raw = fcntl.ioctl(sock.fileno(), SIOCGIFHWADDR, struct.pack("256s", name[:15].encode()))
    return ":".join(f"{b:02x}" for b in raw[18:24])


# The socket require_net_raw opened, kept for the sweep: closing a packet socket waits for an
# RCU grace period (~10-20 ms here), and a run used to open and close three for the check.
_spare: list[socket.socket] = []


def require_net_raw() -> None:
    """Fail with one clear line before any work when raw sockets are not allowed.

    Opening a packet socket is the only honest test: CAP_NET_RAW may come from root, a file
    capability or an ambient set, and user namespaces change what each means. The socket
    (protocol 0: it receives nothing) is kept for :func:`packet_socket`.
    """
    if not _spare:
        _spare.append(packet_socket())


def packet_socket() -> socket.socket:
    """An AF_PACKET raw socket with protocol 0 (it receives nothing until bound)."""
    if _spare:
        return _spare.pop()
    try:
        return socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except PermissionError:
        raise PrivilegeError(
            "discover needs CAP_NET_RAW (raw ARP frames, nmap SYN and OS scans): "
            "run as root or grant the capability"
        ) from None


NEIGHBOUR_LIMIT = "/proc/sys/net/ipv4/neigh/default/gc_thresh3"


def neighbour_table_limit() -> int | None:
    """The kernel's hard limit on IPv4 neighbour (ARP) entries, or None where it cannot be
    read (a network namespace other than the first does not show it). Every connection,
    SNMP request and RST to a host on the LAN needs an entry; past the limit the kernel drops
    such packets ("neighbor table overflow"), and scan answers are lost."""
    try:
        with open(NEIGHBOUR_LIMIT, encoding="ascii") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None
