"""Names and vendors: reverse DNS, MAC vendor from netaddr's bundled OUI registry, and the
locally-administered bit that marks randomised (private) MAC addresses.

mDNS is not queried: a unicast 5353 probe per host costs a round trip for names that phones
and printers mostly also publish by DNS or NetBIOS; left for later.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence
from functools import lru_cache

RDNS_TIMEOUT = 1.0
RDNS_WORKERS = 32


def vendor(mac: str | None) -> str | None:
    """The IEEE registrant of the MAC's OUI (its first three octets)."""
    if not mac:
        return None
    return _oui_vendor(mac.lower().replace("-", ":")[:8])


@lru_cache(maxsize=4096)
def _oui_vendor(oui: str) -> str | None:
    # Cached per OUI, not per MAC: 4000 hosts of 8 vendors cost 8 registry look-ups, not 4000.
    import netaddr

    try:
        return netaddr.OUI(oui.replace(":", "-")).registration().org
    except (netaddr.NotRegisteredError, netaddr.AddrFormatError, IndexError, ValueError):
        return None


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
    site without DNS (or a lab namespace) costs about one timeout, never one per host."""
    import dns.exception
    import dns.resolver
    import dns.reversename

    if not ips:
        return {}, None
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
    with concurrent.futures.ThreadPoolExecutor(RDNS_WORKERS) as pool:
        first, rest = list(ips[:RDNS_WORKERS]), list(ips[RDNS_WORKERS:])
        results = list(pool.map(lookup, first))
        if not any(reachable for _ip, _name, reachable in results):
            return {}, "reverse DNS skipped: no nameserver answered"
        results += list(pool.map(lookup, rest))
    for ip, name, _reachable in results:
        if name:
            names[ip] = name
    return names, None
