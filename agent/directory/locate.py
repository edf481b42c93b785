"""Where the DC is: ``--server HOST[:PORT]`` as given, or DNS SRV records for ``--domain``.

Every address is checked against the scope before anything connects to it.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from agent.core.errors import OperationFailed, ScopeError, UsageError
from agent.core.scope import ScopeGuard, is_address
from agent.directory.connection import Endpoint, Transport, default_port


@dataclass(frozen=True)
class Candidate:
    name: str  # what the certificate should name
    address: str
    port: int


def parse_server(server: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address."""
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else None
    if server.count(":") == 1:
        host, port = server.split(":")
        if not port.isdigit():
            raise UsageError(f"--server {server}: the port must be a number")
        return host, int(port)
    return server, None


def server_endpoint(server: str, transport: Transport, guard: ScopeGuard) -> Endpoint:
    host, port = parse_server(server)
    address = host if is_address(host) else _resolve(host)
    guard.check(address)
    names = () if is_address(host) else (host,)
    return Endpoint(address, port or default_port(transport), transport, names)


def srv_endpoint(
    domain: str,
    transport: Transport,
    guard: ScopeGuard,
    dns_server: str | None = None,
    timeout: float = 5.0,
) -> Endpoint:
    """The best in-scope DC of ``_ldap._tcp.dc._msdcs.<domain>`` (priority, then weight)."""
    candidates = locate_dcs(domain, guard, dns_server=dns_server, timeout=timeout)
    allowed = [c for c in candidates if guard.allows(c.address)]
    if not allowed:
        listed = ", ".join(f"{c.name} ({c.address})" for c in candidates)
        raise ScopeError(f"no domain controller of {domain} is in scope: {listed}")
    best = allowed[0]
    # SRV names the LDAP port (389); LDAPS lives on 636 of the same DC.
    port = best.port if transport != "ldaps" else default_port("ldaps")
    return Endpoint(best.address, port, transport, (best.name,))


def locate_dcs(
    domain: str, guard: ScopeGuard, *, dns_server: str | None = None, timeout: float = 5.0
) -> list[Candidate]:
    import dns.exception
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=dns_server is None)
    if dns_server:
        guard.check(dns_server)
        resolver.nameservers = [dns_server]
    resolver.lifetime = timeout
    record = f"_ldap._tcp.dc._msdcs.{domain.rstrip('.')}"
    try:
        answer = resolver.resolve(record, "SRV")
    except dns.exception.DNSException as exc:
        raise OperationFailed(
            f"no domain controller found for {domain} ({record}: {type(exc).__name__})"
        ) from None
    records = sorted(answer, key=lambda r: (r.priority, -r.weight))
    candidates = []
    for rec in records:
        name = str(rec.target).rstrip(".")
        try:
            addresses = [str(a) for a in resolver.resolve(name, "A")]
        except dns.exception.DNSException:
            addresses = []
        candidates += [Candidate(name, address, rec.port) for address in addresses]
    if not candidates:
        raise OperationFailed(f"the SRV records of {domain} name no resolvable DC")
    return candidates


def _resolve(host: str) -> str:
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OperationFailed(f"cannot resolve {host}: {exc.strerror}") from None
    return infos[0][4][0]
