"""ARP-only "phantom" hosts that fill 198.18.0.0/16 for the large lab (~4000 live addresses),
a few hundred of which also answer TCP.

A tc BPF program (``data/phantom_arp.c``) on the technician's bridge port answers ARP for every
phantom address with a distinct vendor MAC and drops other traffic into the /16 outside the
real hosts' /24s, so a full-rate sweep never floods the real hosts' bridge. It is compiled here
with clang at ``lab up`` (the constants come from this module, the single source of the set)
and attached with ``tc``. Measured alternative: many addresses on one interface also answer at
any rate but share one MAC, and macvlans drop broadcast ARP under load.

TCP phantoms: the phantoms in 198.18.2.0-198.18.21.255 (~320) also answer TCP. Their
addresses sit on one veth in the namespace ``<id>-tcp`` on the LAN bridge; the BPF program
rewrites the destination MAC of IPv4 frames for them to that veth's, so they keep their own
ARP MACs while one kernel answers (RST on closed ports) and one services process serves
their open ports: SSH banners, HTTP pages, SMB and RDP (``tcp_ports``).
"""

from __future__ import annotations

import ipaddress
import platform
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from lab import netns, topology

if TYPE_CHECKING:
    from lab.site import Lab

SOURCE = Path(__file__).parent / "data" / "phantom_arp.c"
HASH_MUL = 2654435761
HASH_SHIFT = 28  # keeps 1 address in 16
VENDORS = ("Dell", "HP", "Intel", "Microsoft", "Cisco", "Ubiquiti", "Polycom", "Synology")
REAL = ipaddress.ip_network("198.18.0.0/23")  # the small lab's two /24s
TCP_LOW = int(ipaddress.ip_address("198.18.2.0"))
TCP_HIGH = int(ipaddress.ip_address("198.18.21.255"))
TCP_MAC = "02:6b:74:00:00:01"  # the TCP phantoms' namespace (locally administered)
# What a TCP phantom serves, by its index: a Linux server, a web interface, a Windows host,
# a server with both SSH and a web page. Every other port is closed.
TCP_KINDS = ((22,), (80,), (445, 3389), (22, 80))


class PhantomError(RuntimeError):
    """The BPF responder could not be built or attached."""


def is_phantom(ip: int) -> bool:
    """Same predicate as ``is_phantom`` in the C program."""
    large, real = topology.LARGE, REAL
    if ip & 0xFF in (0, 255) or ip & int(real.netmask) == int(real.network_address):
        return False
    if ip & int(large.netmask) != int(large.network_address):
        return False
    return ((ip * HASH_MUL) & 0xFFFFFFFF) >> HASH_SHIFT == 0


def mac_of(ip: int) -> tuple[str, str]:
    vendor = VENDORS[(ip >> 8) & 7]
    oui = topology.OUI[vendor]
    return f"{oui}:{ip >> 16 & 255:02x}:{ip >> 8 & 255:02x}:{ip & 255:02x}", vendor


def is_tcp_phantom(ip: int) -> bool:
    return TCP_LOW <= ip <= TCP_HIGH and is_phantom(ip)


def tcp_ports(index: int) -> tuple[int, ...]:
    return TCP_KINDS[index % len(TCP_KINDS)]


def tcp_phantoms() -> list[dict]:
    """The TCP-answering phantoms with the ports each serves (the manifest's ``tcp_phantoms``)."""
    found = [ip for ip in range(TCP_LOW, TCP_HIGH + 1) if is_tcp_phantom(ip)]
    return [
        {"ip": str(ipaddress.ip_address(ip)), "mac": mac_of(ip)[0], "tcp": list(tcp_ports(i))}
        for i, ip in enumerate(found)
    ]


def phantoms() -> list[dict]:
    net = topology.LARGE
    out = []
    for ip in range(int(net.network_address), int(net.broadcast_address) + 1):
        if is_phantom(ip):
            mac, vendor = mac_of(ip)
            out.append({"ip": str(ipaddress.ip_address(ip)), "mac": mac, "vendor": vendor})
    return out


def install(lab: Lab) -> list[dict]:
    """Compile and attach the responder to the technician's bridge port; return the phantoms."""
    obj = lab.state_dir / "phantom_arp.o"
    ouis = ",".join("0x" + topology.OUI[v].replace(":", "") for v in VENDORS)
    net, real = topology.LARGE, REAL
    defines = {
        "LARGE_NET": hex(int(net.network_address)),
        "LARGE_MASK": hex(int(net.netmask)),
        "REAL_NET": hex(int(real.network_address)),
        "REAL_MASK": hex(int(real.netmask)),
        "HASH_MUL": f"{HASH_MUL}u",
        "HASH_SHIFT": str(HASH_SHIFT),
        "PHANTOM_OUIS": ouis,
        "TCP_LOW": hex(TCP_LOW),
        "TCP_HIGH": hex(TCP_HIGH),
        "TCP_MAC": ",".join("0x" + b for b in TCP_MAC.split(":")),
    }
    compiled = subprocess.run(
        [
            "clang",
            "-O2",
            "-target",
            "bpf",
            f"-I/usr/include/{platform.machine()}-linux-gnu",
            *(f"-D{k}={v}" for k, v in defines.items()),
            "-c",
            str(SOURCE),
            "-o",
            str(obj),
        ],
        capture_output=True,
        text=True,
    )
    if compiled.returncode != 0:
        raise PhantomError(f"clang could not build the ARP responder: {compiled.stderr[-800:]}")
    port = f"{lab.lab_id}-xt"
    try:
        netns.run_in(lab.bridge_ns, ["tc", "qdisc", "add", "dev", port, "clsact"])
        netns.run_in(
            lab.bridge_ns,
            [
                "tc",
                "filter",
                "add",
                "dev",
                port,
                "ingress",
                "bpf",
                "da",
                "obj",
                str(obj),
                "sec",
                "tc",
            ],
        )
    except netns.NetnsError as exc:
        raise PhantomError(f"cannot attach the ARP responder: {exc}") from None
    return phantoms()


# One kernel answers for ~320 hosts, and its ICMP error budget (one port unreachable a
# second per peer after a burst of 6, 1000 a second in all) is shared by them all: nmap's OS
# detection lost its closed-UDP-port probe's answer for most phantoms, and their OS names
# flipped between near ties from run to run (27 of 32 hosts agreeing, against 32 of 32 with
# this). Each real host has a budget of its own.
SEPARATE_HOSTS_ICMP = {
    "net.ipv4.icmp_ratelimit": "0",
    "net.ipv4.icmp_msgs_per_sec": "100000",
    "net.ipv4.icmp_msgs_burst": "10000",
}


def tcp_namespace(lab: Lab) -> str:
    return f"{lab.lab_id}-tcp"


def install_tcp(lab: Lab) -> list[dict]:
    """The TCP phantoms' namespace (recorded in the lab state by the caller before this):
    one veth on the LAN bridge with every TCP phantom address, a permanent neighbour entry
    for the technician (it never ARPs: the BPF program answers for these addresses), and
    the served entries for the lab's services process."""
    ns, br, lab_id = tcp_namespace(lab), lab.bridge_ns, lab.lab_id
    found = tcp_phantoms()
    netns.create(ns, sysctls=SEPARATE_HOSTS_ICMP)
    inner = f"{lab_id}-hp"
    netns.add_veth(ns, inner, f"{lab_id}-xp", br, mac=TCP_MAC)
    netns.attach_to_bridge(br, f"{lab_id}-xp", f"{lab_id}-lan")
    # /16 on each: the first makes the on-link route back to the technician.
    batch = "".join(f"addr add {p['ip']}/16 dev {inner}\n" for p in found)
    subprocess.run(["ip", "-n", ns, "-batch", "-"], input=batch, text=True, check=True)
    tech_mac = netns.run_in(
        lab.tech_ns, ["cat", f"/sys/class/net/{lab_id}-t0/address"]
    ).stdout.strip()
    netns.ip(
        "neigh", "replace", topology.TECH_IP, "lladdr", tech_mac, "dev", inner,
        "nud", "permanent", netns=ns,
    )  # fmt: skip
    return [
        {"name": f"tcp-{p['ip']}", "netns": ns, "ip": p["ip"], "tcp": p["tcp"], "udp": [],
         "http_title": f"Intranet {p['ip']}", "http_server": "nginx"}
        for p in found
    ]  # fmt: skip
