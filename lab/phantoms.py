"""ARP-only "phantom" hosts that fill 198.18.0.0/16 for the large lab (~4000 live addresses).

A tc BPF program (``data/phantom_arp.c``) on the technician's bridge port answers ARP for every
phantom address with a distinct vendor MAC and drops other traffic into the /16 outside the
real hosts' /24s, so a full-rate sweep never floods the real hosts' bridge. It is compiled here
with clang at ``lab up`` (the constants come from this module, the single source of the set)
and attached with ``tc``. Measured alternative: many addresses on one interface also answer at
any rate but share one MAC, and macvlans drop broadcast ARP under load.
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
