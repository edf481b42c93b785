"""The Active Directory audit: one read-only LDAP connection, collectors, rules, one document.

Public API (what ``keyturn ad`` and ``keyturn onboard`` call)::

    request = AdRequest(server="10.0.0.5", user="audit", password=Secret(...), ca_file=...)
    document = run_ad_audit(store, request, guard, operator="jo", client="acme")

Nothing here prints; errors are :mod:`agent.errors` exceptions with their exit codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.errors import UsageError
from agent.secret import Secret

if TYPE_CHECKING:
    from agent.scope import ScopeGuard
    from inventory.store import Store


@dataclass(frozen=True)
class AdRequest:
    user: str
    password: Secret | None = field(default=None, repr=False)
    domain: str | None = None
    server: str | None = None  # HOST[:PORT]; wins over DNS SRV lookup of ``domain``
    transport: str = "ldaps"  # ldaps | starttls | ldap
    allow_plain: bool = False  # --insecure-ldap: a simple bind over plain LDAP
    ca_file: str | None = None
    tls_insecure: bool = False
    method: str = "simple"  # simple | kerberos | ntlm
    dns_server: str | None = None  # for the SRV lookup; the system resolver otherwise
    stale_days: int = 90
    recent_days: int = 30
    timeout: float = 10.0

    @property
    def keyring_host(self) -> str:
        """The keyring entry's host: the server as given (without port), else the domain."""
        if self.server:
            from agent.directory.locate import parse_server

            return parse_server(self.server)[0]
        if self.domain:
            return self.domain
        raise UsageError("name the domain controller: --server HOST or --domain DNS_NAME")


def run_ad_audit(
    store: Store, request: AdRequest, guard: ScopeGuard, *, operator: str, client: str
) -> dict:
    """Audit the domain, store the run (objects, memberships, findings, document), return the
    document with its ``run_id``. The run ends ``findings`` when any rule fired."""
    from agent.directory.audit import AuditOptions, run_audit
    from agent.directory.connection import Credentials, DirectoryConnection, TlsPolicy
    from agent.directory.locate import server_endpoint, srv_endpoint
    from inventory.directory import save_audit

    if request.server:
        endpoint = server_endpoint(request.server, request.transport, guard)
    elif request.domain:
        endpoint = srv_endpoint(request.domain, request.transport, guard, request.dns_server)
    else:
        raise UsageError("name the domain controller: --server HOST or --domain DNS_NAME")
    credentials = Credentials(request.user, request.password, request.method)
    tls = TlsPolicy(request.ca_file, request.tls_insecure)
    with store.run("ad", operator, client) as run_id:
        conn, root = DirectoryConnection.connect(
            endpoint, tls, credentials, allow_plain=request.allow_plain, timeout=request.timeout
        )
        try:
            result = run_audit(conn, root, AuditOptions(request.stale_days, request.recent_days))
        finally:
            conn.close()
        document = {"run_id": run_id, **result.document}
        document["ldap"] = {
            "server": endpoint.label,
            "transport": endpoint.transport,
            "tls_validated": endpoint.transport != "ldap" and not request.tls_insecure,
            "bind": request.method,
            "round_trips": conn.round_trips,
            "warnings": result.warnings,
        }
        summary = {
            "domain": result.domain.dns_name,
            "server": endpoint.label,
            "transport": endpoint.transport,
            "tls_insecure": request.tls_insecure,
            "round_trips": conn.round_trips,
            "privileged_accounts": document["counts"]["privileged_accounts"],
            "findings": len(result.findings),
        }
        save_audit(store, run_id, result, document)
        store.finish_run(run_id, "findings" if result.findings else "ok", summary)
    return document
