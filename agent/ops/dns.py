"""The ``dns`` use case: the client's web and DNS properties, checked, stored and diffed.

Builds the request once from flags over the site's ``[dns]`` table, takes the TLS and HTTP
services and the live addresses from the latest discover run, reads the AD-integrated zones
with the audit account when ``[ad]`` is configured, runs agent.webdns, stores the run
(inventory.webdns) with the changes since the previous one, and writes the ``dns.check``
audit event. ``keyturn dns`` and onboard's stage call :func:`check_dns`.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from agent.core.errors import UsageError
from agent.core.identifiers import check_host
from agent.core.logsetup import get_logger

if TYPE_CHECKING:
    from agent.context import AppContext
    from agent.webdns import WebDnsRequest

log = get_logger(__name__)


def dns_request(
    app: AppContext, *, domains: list[str] | None = None, nameservers: list[str] | None = None
) -> WebDnsRequest:
    """Flags win over the config; every domain must be a host name, every resolver an IP."""
    from agent.webdns import WebDnsRequest

    settings = app.config.dns
    names = [check_host(d, "domain").rstrip(".") for d in (domains or settings.domains)]
    servers = []
    for value in nameservers or settings.nameservers:
        try:
            servers.append(str(ipaddress.ip_address(str(value).strip())))
        except ValueError:
            raise UsageError(
                f"nameserver {value!r}: give an IP address (a name would need "
                "this machine's resolver)"
            ) from None
    return WebDnsRequest(
        domains=list(dict.fromkeys(names)), nameservers=servers,
        dkim_selectors=settings.dkim_selectors, rdap_bootstrap=settings.rdap_bootstrap,
        expiry_days=settings.expiry_days, aging_days=settings.aging_days,
    )  # fmt: skip


def check_dns(app: AppContext, request: WebDnsRequest, *, internal: bool = True) -> dict:
    """Run the checks, store the run, return the document (with ``run_id`` and ``changes``)."""
    from dataclasses import replace

    from agent.core.scope import ScopeGuard
    from agent.webdns import collect, tls_candidates
    from inventory import queries, webdns

    config = app.config
    guard = config.scope_guard()
    store = app.store
    discovered = queries.run_of_kind(store, "discover")
    discover_doc = queries.run_document(store, discovered.id if discovered else None, "discover")
    if not request.nameservers:
        # The client's own DNS servers, as discovery found them (port 53 open).
        found = [
            h["ip"]
            for h in discover_doc.get("hosts", [])
            if any(p.get("port") == 53 for p in h.get("ports", []))
        ]
        request = replace(request, nameservers=found)
    alive = {h["ip"] for h in discover_doc.get("hosts", [])} if discover_doc else None
    scope = discover_doc.get("scope") or []
    covered = (
        ScopeGuard(scope, discover_doc.get("exclude", []), allow_public=True).allows
        if scope
        else (lambda _ip: False)
    )
    read_zones = _zone_reader(app, guard) if internal and _ad_configured(app) else None
    with app.lock("dns"), store.run("dns", app.operator, config.client) as run_id:
        result = collect(
            request,
            guard,
            services=tls_candidates(discover_doc),
            read_zones=read_zones,
            alive=alive,
            covered=covered,
        )
        document: dict[str, Any] = {
            "run_id": run_id,
            **result,
            "discover_run_id": discovered.id if discovered else None,
        }
        previous = webdns.previous_run(store, run_id)
        webdns.save(store, run_id, document)
        document["changes"] = webdns.diff(store, previous, run_id)
        document["previous_run_id"] = previous
        summary = {
            "domains": len(document["domains"]),
            "certificates": len(document["certificates"]),
            "internal_zones": len(document["internal_zones"]),
            "findings": len(document["findings"]),
            "changes": len(document["changes"]),
        }
        store.finish_run(run_id, "findings" if document["findings"] else "ok", summary)
    app.audit.append(
        "dns.check",
        ",".join(request.domains) or "-",
        "ok",
        run_id=run_id,
        detail={**summary, "nameservers": request.nameservers},
    )
    return document


def summary_line(document: dict) -> str:
    """'N domains, M TLS services, K findings, C changes' (onboard's stage line)."""
    return (
        f"{len(document['domains'])} domains, {len(document['certificates'])} TLS services, "
        f"{len(document['internal_zones'])} AD zones, {len(document['findings'])} findings, "
        f"{len(document['changes'])} changes"
    )


def _ad_configured(app: AppContext) -> bool:
    from agent.ops.directory import ad_configured

    return app.config.dns.internal_zones and ad_configured(app)


def _is_host_name(value: str) -> bool:
    try:
        check_host(value, "UPN suffix")
    except UsageError:
        return False
    return True


def _zone_reader(app: AppContext, guard):
    """A callable that binds with the audit account and reads the AD-integrated zones and the
    forest's UPN suffixes."""
    from agent.ops.directory import onboard_request

    request = onboard_request(app)  # the [ad] request without flags, as onboard builds it

    def read() -> list[dict]:
        from agent.directory.connection import Credentials, DirectoryConnection, TlsPolicy
        from agent.directory.locate import server_endpoint, srv_endpoint
        from agent.webdns.adzones import read_zones, zone_bases

        if request.server:
            endpoint = server_endpoint(request.server, request.transport, guard)
        else:
            endpoint = srv_endpoint(request.domain, request.transport, guard, request.dns_server)
        conn, root = DirectoryConnection.connect(
            endpoint,
            TlsPolicy(request.ca_file, request.tls_insecure),
            Credentials(request.user, request.password, request.method),
            allow_plain=request.allow_plain,
            timeout=request.timeout,
        )
        try:
            default = root.text("defaultNamingContext")
            forest = root.text("rootDomainNamingContext") or default
            partitions = conn.read(
                f"CN=Partitions,{root.text('configurationNamingContext')}", ["uPNSuffixes"]
            )
            suffixes = partitions.texts("uPNSuffixes") if partitions else []
            valid = [s for s in suffixes if _is_host_name(s)]  # directory data is hostile too
            return read_zones(conn, zone_bases(forest, default)), valid
        finally:
            conn.close()

    return read
