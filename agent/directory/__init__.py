"""The Active Directory audit: one read-only LDAP connection, collectors, rules, one document.

Public API (what ``keyturn ad`` and ``keyturn onboard`` call)::

    request = AdRequest(server="10.0.0.5", user="audit", password=Secret(...), ca_file=...)
    document = run_ad_audit(store, request, guard, operator="jo", client="acme")

Nothing here prints; errors are :mod:`agent.core.errors` exceptions with their exit codes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from agent.core.errors import UsageError
from agent.core.secret import Secret

if TYPE_CHECKING:
    from agent.core.scope import ScopeGuard
    from agent.directory.audit import AuditResult
    from agent.directory.connection import DirectoryConnection, Endpoint
    from agent.directory.model import Entry
    from inventory.directory import DirectoryAudit
    from inventory.store import Store


class AdSettings(Protocol):
    """The site's defaults for a request (the ``[ad]`` table; agent.config's AdConfig), read
    by attribute so this package does not depend on the config loader."""

    domain: str | None
    server: str | None
    user: str | None
    password_env: str | None
    transport: str
    ca_file: str | None
    tls_insecure: bool
    kerberos: bool
    stale_days: int


class MissingPassword(UsageError):
    """No bind password from any source; names the keyring entry that was looked up."""

    def __init__(self, message: str, *, user: str, host: str) -> None:
        super().__init__(message)
        self.user = user
        self.host = host


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


def build_request(
    settings: AdSettings,
    keyring: Callable[[str, str], Secret | None],
    *,
    domain: str | None = None,
    server: str | None = None,
    user: str | None = None,
    password_env: str | None = None,
    prompt: Callable[[str], str] | None = None,
    transport: str | None = None,
    ca_file: str | None = None,
    tls_insecure: bool = False,
    kerberos: bool = False,
    ntlm: bool = False,
    dns_server: str | None = None,
    stale_days: int | None = None,
    environ: Mapping[str, str] = os.environ,
) -> AdRequest:
    """The request for flags over the site's ``[ad]`` table, password included.

    Password sources in order: ``password_env`` (flag, then config), ``prompt`` (given only
    when a person is at a terminal), ``keyring(host, user)`` with host = server or domain
    (``SecretStore(client).get``; only called when needed, so a run with the password in an
    environment variable works without a keyring).
    """
    if kerberos and ntlm:
        raise UsageError("--kerberos and --ntlm exclude each other")
    if ca_file and tls_insecure:
        raise UsageError("--ca-file and --tls-insecure exclude each other")
    method = "kerberos" if kerberos or settings.kerberos else "ntlm" if ntlm else "simple"
    user = user or settings.user
    if not user and method != "kerberos":
        raise UsageError("name the bind account: --user USER (or user in the [ad] table)")
    transport = transport or settings.transport
    request = AdRequest(
        user=user or "",
        # A flag for one way of finding the DC overrides the config's other way.
        domain=domain or (None if server else settings.domain),
        server=server or (None if domain else settings.server),
        transport=transport,
        # A site config that sets transport = "ldap" has opted in as explicitly as the flag.
        allow_plain=transport == "ldap",
        ca_file=ca_file or (None if tls_insecure else settings.ca_file),
        tls_insecure=tls_insecure or settings.tls_insecure,
        method=method,
        dns_server=dns_server,
        stale_days=stale_days or settings.stale_days,
    )
    if method == "kerberos":
        return request
    variable = password_env or settings.password_env
    if variable:
        value = environ.get(variable)
        if not value:
            raise UsageError(f"password variable {variable} is not set")
        return replace(request, password=Secret(value))
    if prompt is not None:
        return replace(request, password=Secret(prompt(f"Password for {request.user}")))
    stored = keyring(request.keyring_host, request.user)
    if stored is None:
        raise MissingPassword(
            f"no password for {request.user}@{request.keyring_host}: use --password-env, "
            "--password-prompt, or store it with 'keyturn secrets'",
            user=request.user,
            host=request.keyring_host,
        )
    return replace(request, password=stored)


def locate_dc(request: AdRequest, guard: ScopeGuard) -> Endpoint:
    """The DC to talk to (from --server, else DNS SRV), checked against the scope."""
    from agent.directory.locate import server_endpoint, srv_endpoint

    if request.server:
        return server_endpoint(request.server, request.transport, guard)
    if request.domain:
        return srv_endpoint(request.domain, request.transport, guard, request.dns_server)
    raise UsageError("name the domain controller: --server HOST or --domain DNS_NAME")


def open_connection(
    request: AdRequest, guard: ScopeGuard, *, writable: bool = False,
    endpoint: Endpoint | None = None,
) -> tuple[DirectoryConnection, Entry, Endpoint]:  # fmt: skip
    """Connect to the DC and bind once: (connection, rootDSE, endpoint)."""
    from agent.directory.connection import Credentials, DirectoryConnection, TlsPolicy

    endpoint = endpoint or locate_dc(request, guard)
    credentials = Credentials(request.user, request.password, request.method)
    tls = TlsPolicy(request.ca_file, request.tls_insecure)
    conn, root = DirectoryConnection.connect(
        endpoint,
        tls,
        credentials,
        allow_plain=request.allow_plain,
        timeout=request.timeout,
        writable=writable,
    )
    return conn, root, endpoint


def run_ad_audit(
    store: Store, request: AdRequest, guard: ScopeGuard, *, operator: str, client: str
) -> dict:
    """Audit the domain, store the run (objects, memberships, findings, document), return the
    document with its ``run_id``. The run ends ``findings`` when any rule fired."""
    from agent.directory.audit import AuditOptions, run_audit
    from inventory.directory import save_audit

    endpoint = locate_dc(request, guard)
    with store.run("ad", operator, client) as run_id:
        conn, root, endpoint = open_connection(request, guard, endpoint=endpoint)
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
            "binds": conn.binds,
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
        save_audit(store, run_id, stored_rows(result, document))
        store.finish_run(run_id, "findings" if result.findings else "ok", summary)
    return document


def stored_rows(result: AuditResult, document: dict) -> DirectoryAudit:
    """The audit as the inventory's plain rows (inventory never reads this package's types)."""
    from inventory.directory import (
        DirectoryAudit,
        DirectoryObjectRow,
        FindingRow,
        MembershipRow,
    )

    return DirectoryAudit(
        objects=[
            DirectoryObjectRow(o.sid, o.sam, o.dn, o.kind, o.enabled, o.summary())
            for o in result.objects
        ],
        memberships=[
            MembershipRow(
                g.found.group.sid,
                g.found.group.sam,
                m.obj.sid,
                m.obj.sam,
                m.obj.dn,
                m.obj.public_kind,
                m.obj.enabled,
                tuple(m.path),
                m.via_primary_group,
            )
            for g in result.groups
            if g.found.spec.role == "privileged"  # readers take every row as privileged
            for m in g.members
        ],
        findings=[FindingRow(f.rule, f.severity, f.subject, f.detail) for f in result.findings],
        document=document,
    )
