"""Named network namespaces and veth pairs for the lab, created and removed by exact name.

Nothing here ever enumerates or deletes namespaces it did not create: callers pass the exact
names they recorded, so two labs (or another project's lab) on the same machine never collide.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")


class NetnsError(RuntimeError):
    """An ip(8) command the lab depends on failed."""


def ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``ip ARGS`` in the root namespace, or inside ``netns``."""
    cmd = ["ip", *(["-n", netns] if netns else []), *args]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise NetnsError(f"{' '.join(cmd)}: {result.stderr.strip()}")
    return result


def exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def create(name: str, *, sysctls: dict[str, str] | None = None) -> None:
    """Create namespace ``name`` with loopback up and IPv6 off (it only adds setup noise)."""
    ip("netns", "add", name)
    ip("link", "set", "lo", "up", netns=name)
    settings = {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"}
    settings.update(sysctls or {})
    for key, value in settings.items():
        run_in(name, ["sysctl", "-q", "-w", f"{key}={value}"], check=False)


def delete(name: str) -> None:
    """Delete namespace ``name`` if it exists; its veth ends die with it."""
    if exists(name):
        ip("netns", "delete", name, check=False)


def run_in(
    netns: str, argv: Sequence[str], *, check: bool = True, **kwargs
) -> subprocess.CompletedProcess:
    """Run ``argv`` to completion inside ``netns`` (``ip netns exec`` also remounts /sys)."""
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    result = subprocess.run(exec_prefix(netns) + list(argv), **kwargs)
    if check and result.returncode != 0:
        raise NetnsError(f"in {netns}: {' '.join(argv)}: {(result.stderr or '').strip()}")
    return result


def exec_prefix(netns: str) -> list[str]:
    """The argv prefix that runs a command inside ``netns``."""
    return ["ip", "netns", "exec", netns]


def add_veth(
    netns: str,
    inner_name: str,
    outer_name: str,
    outer_netns: str,
    *,
    mac: str | None = None,
    address: str | None = None,
) -> None:
    """Create a veth pair: ``inner_name`` inside ``netns`` (optionally with MAC and CIDR address),
    ``outer_name`` inside ``outer_netns`` (usually the bridge namespace), both up."""
    ip(
        "link",
        "add",
        inner_name,
        "netns",
        netns,
        "type",
        "veth",
        "peer",
        "name",
        outer_name,
        "netns",
        outer_netns,
    )
    if mac:
        ip("link", "set", inner_name, "address", mac, netns=netns)
    if address:
        ip("addr", "add", address, "dev", inner_name, netns=netns)
    ip("link", "set", inner_name, "up", netns=netns)
    ip("link", "set", outer_name, "up", netns=outer_netns)


def add_bridge(netns: str, name: str) -> None:
    """A bridge with STP off and no forward delay (STP makes the first reply wait ~33 s)."""
    ip("link", "add", name, "type", "bridge", "stp_state", "0", "forward_delay", "0", netns=netns)
    ip("link", "set", name, "up", netns=netns)


def attach_to_bridge(netns: str, port: str, bridge: str) -> None:
    ip("link", "set", port, "master", bridge, netns=netns)


_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextlib.contextmanager
def inside(netns: str) -> Iterator[None]:
    """Switch the calling thread into ``netns`` for the block, then back.

    Sockets opened inside keep living in ``netns`` after the block ends, which is what lets
    an in-process test client talk to a lab host without touching the real interfaces.
    """
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(NETNS_DIR / netns, os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(original)
    finally:
        os.close(target)
        os.close(original)
