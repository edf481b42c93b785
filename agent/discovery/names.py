"""Names and vendors: reverse DNS, MAC vendor from netaddr's bundled OUI registry, and the
locally-administered bit that marks randomised (private) MAC addresses.

The registry is read directly: ``netaddr.OUI`` parses the whole 35k-line index into a dict on
first use (~0.1 s, a third of a /24 sweep), while a run needs a handful of OUIs, each found
by one substring search in the index bytes.

mDNS is not queried: a unicast 5353 probe per host costs a round trip for names that phones
and printers mostly also publish by DNS or NetBIOS; left for later.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import socket
from collections.abc import Sequence
from functools import cache, lru_cache
from pathlib import Path

RDNS_TIMEOUT = 1.0
RDNS_WORKERS = 32
RESOLV_CONF = Path("/etc/resolv.conf")


def vendor(mac: str | None) -> str | None:
    """The IEEE registrant of the MAC's OUI (its first three octets)."""
    if not mac:
        return None
    return _oui_vendor(mac.lower().replace("-", ":")[:8])


@lru_cache(maxsize=4096)
def _oui_vendor(oui: str) -> str | None:
    # Cached per OUI, not per MAC: 4000 hosts of 8 vendors cost 8 registry look-ups, not 4000.
    try:
        key = int(oui.replace(":", ""), 16)
    except ValueError:
        return None
    # Index rows are "KEY,OFFSET,SIZE" (KEY decimal) into oui.txt; the first registration wins.
    index = _oui_index()
    start = index.find(b"\n%d," % key)
    if start < 0:
        return None
    end = index.find(b"\n", start + 1)
    _key, offset, size = (int(part) for part in index[start + 1 : end].split(b","))
    with open(_registry_dir() / "oui.txt", "rb") as registry:
        registry.seek(offset)
        record = registry.read(size).decode("utf-8", errors="replace")
    for line in record.splitlines():
        if "(hex)" in line:
            parts = line.split(None, 2)
            return parts[2].strip() if len(parts) == 3 else None
    return None


@cache
def _oui_index() -> bytes:
    """netaddr's oui.idx, with a leading newline so every row starts with one."""
    return b"\n" + (_registry_dir() / "oui.idx").read_bytes()


@cache
def _registry_dir() -> Path:
    # find_spec locates the package without importing it (netaddr's import costs ~10 ms).
    spec = importlib.util.find_spec("netaddr")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("netaddr (its bundled IEEE OUI registry names MAC vendors)")
    return Path(spec.origin).parent / "eui"


def mac_randomized(mac: str | None) -> bool:
    """True when the locally-administered bit is set (phones' private addresses, VMs)."""
    if not mac:
        return False
    try:
        return bool(int(mac.split(":")[0], 16) & 0x02)
    except ValueError:
        return False


def reverse_dns(
    ips: Sequence[str], timeout: float = RDNS_TIMEOUT
) -> tuple[dict[str, str], str | None]:
    """ip -> PTR name. Gives up after the first wave when no nameserver answers at all, so a
    site without DNS (or a lab namespace) costs about one timeout, never one per host; without
    a route to any nameserver it does not even start (dnspython's import alone is ~40 ms)."""
    if not ips:
        return {}, None
    if _routable_nameservers(RESOLV_CONF) == []:
        return {}, "reverse DNS skipped: no route to any nameserver"
    import dns.exception
    import dns.resolver
    import dns.reversename

    try:
        resolver = dns.resolver.Resolver()
    except dns.resolver.NoResolverConfiguration:
        return {}, "reverse DNS skipped: no nameserver configured"
    resolver.lifetime = timeout
    resolver.timeout = timeout

    def lookup(ip: str) -> tuple[str, str | None, bool]:
        try:
            answer = resolver.resolve(dns.reversename.from_address(ip), "PTR")
            return ip, str(answer[0]).rstrip("."), True
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return ip, None, True
        except (dns.exception.DNSException, OSError):
            return ip, None, False

    names: dict[str, str] = {}
    with concurrent.futures.ThreadPoolExecutor(min(RDNS_WORKERS, len(ips))) as pool:
        first, rest = list(ips[:RDNS_WORKERS]), list(ips[RDNS_WORKERS:])
        results = list(pool.map(lookup, first))
        if not any(reachable for _ip, _name, reachable in results):
            return {}, "reverse DNS skipped: no nameserver answered"
        results += list(pool.map(lookup, rest))
    for ip, name, _reachable in results:
        if name:
            names[ip] = name
    return names, None


def _routable_nameservers(resolv_conf: Path) -> list[str] | None:
    """The nameservers of ``resolv_conf`` this namespace has a route to; None when it names
    none (dnspython then explains). A UDP connect only looks the route up: nothing is sent."""
    try:
        lines = resolv_conf.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    servers = [
        f[1] for f in (line.split() for line in lines) if len(f) > 1 and f[0] == "nameserver"
    ]
    if not servers:
        return None
    routable = []
    for server in servers:
        try:
            family, kind, proto, _name, address = socket.getaddrinfo(
                server, 53, type=socket.SOCK_DGRAM, flags=socket.AI_NUMERICHOST
            )[0]
            with socket.socket(family, kind, proto) as sock:
                sock.connect(address)
        except OSError:
            continue
        routable.append(server)
    return routable
