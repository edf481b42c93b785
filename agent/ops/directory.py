"""Use case: audit the Active Directory, record it, prefill the checklist.

`keyturn ad` and onboard's ad stage both build their request with :func:`ad_request` (one set
of password rules: flag or ``[ad] password_env``, a prompt only for a person at a terminal,
else the keyring) and run :func:`audit_directory`, which writes the one ``ad.audit`` event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent.core.errors import UsageError

if TYPE_CHECKING:
    from agent.context import AppContext
    from agent.directory import AdRequest
    from rotation.binding import DirectoryBinding


def ad_configured(app: AppContext) -> bool:
    """Whether the site config names a directory to audit (onboard skips the stage if not)."""
    return bool(app.config.ad.server or app.config.ad.domain)


def ad_request(
    app: AppContext, *, prompt: Callable[[str], str] | None = None, **flags: Any
) -> AdRequest:
    """The request from the ``[ad]`` table and the flags given (agent.directory.build_request
    names them), password included. The keyring is opened only when it is the source."""
    from agent.directory import build_request

    return build_request(
        app.config.ad, lambda host, name: app.secret_store.get(host, name), prompt=prompt, **flags
    )


def onboard_request(app: AppContext) -> AdRequest:
    """:func:`ad_request` without flags; a missing password says how to give one in the site
    config, since onboard has no --password-env or prompt."""
    from agent.directory import MissingPassword

    try:
        return ad_request(app)
    except MissingPassword as exc:
        where = f"${app.config.ad.password_env} or " if app.config.ad.password_env else ""
        raise UsageError(
            f"no bind password for the directory audit ({exc.user}@{exc.host}): "
            f"set {where}[ad] password_env, store it with 'keyturn secrets', or remove [ad]"
        ) from None


def audit_directory(app: AppContext, request: AdRequest) -> dict[str, Any]:
    """Audit the domain read-only, store the run, write the ``ad.audit`` event (DC, bind
    account and method, TLS mode, counts) and prefill the checklist; returns the document."""
    from agent.directory import run_ad_audit
    from agent.ops.checklist import prefill_checklist

    config = app.config
    guard = config.scope_guard()
    with app.lock("ad"):
        app.audit  # noqa: B018 - a locked keyring fails before the bind, not after the audit
        document = run_ad_audit(
            app.store, request, guard, operator=app.operator, client=config.client
        )
        ldap = document["ldap"]
        counts = document.get("counts", {})
        app.audit.append(
            "ad.audit",
            document["domain"]["dns_name"],
            "ok",
            run_id=document["run_id"],
            detail={
                "server": ldap["server"],
                "bind_account": request.user,
                "bind": ldap["bind"],
                "transport": ldap["transport"],
                "tls_insecure": request.tls_insecure,
                "tls_validated": ldap["tls_validated"],
                "findings": len(document["findings"]),
                "users": counts.get("users"),
                "computers": counts.get("computers"),
                "privileged_accounts": counts.get("privileged_accounts"),
            },
        )
        prefill_checklist(app, ad_run=document["run_id"], run_id=document["run_id"])
    return document


def summary_line(document: dict[str, Any]) -> str:
    """'domain: N privileged accounts, M finding(s)' (onboard's stage line)."""
    counts = document.get("counts", {})
    return (
        f"{document['domain']['dns_name']}: {counts.get('privileged_accounts', '?')} "
        f"privileged accounts, {len(document['findings'])} finding(s)"
    )


def directory_binding(app: AppContext) -> DirectoryBinding | None:
    """The ``[ad]`` DC and bind account as kind ``ad`` targets use them: the keyring host is
    the one the directory audit reads its bind password from (the server without port).
    Plain LDAP is never used for a password: transport ``ldap`` still resets over LDAPS."""
    from agent.core.identifiers import check_host
    from rotation.binding import DirectoryBinding

    ad = app.config.ad
    if not ad.server or not ad.user:
        return None
    host, _, port = ad.server.rpartition(":") if ad.server.count(":") == 1 else (ad.server, "", "")
    default = 389 if ad.transport == "starttls" else 636
    try:
        number = int(port) if port else default
    except ValueError:
        raise UsageError(f"[ad] server {ad.server!a}: bad port") from None
    return DirectoryBinding(check_host(host or ad.server, "[ad] server"), number, ad.user)
