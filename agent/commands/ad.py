"""keyturn ad: audit Active Directory over LDAP (read-only) and store the run."""

from __future__ import annotations

import sys

import click

from agent.commands import JSON_OUT, write_json
from agent.core.errors import EXIT_FINDINGS, UsageError
from agent.core.terminal import inert


@click.command()
@click.option("--domain", metavar="DNS_NAME", help="Find a DC via DNS SRV records.")
@click.option("--server", metavar="HOST[:PORT]", help="Talk to this DC (wins over --domain).")
@click.option("--user", metavar="USER", help="Bind as USER (UPN, DOMAIN\\user or plain name).")
@click.option("--password-env", metavar="VAR", help="Read the password from variable VAR.")
@click.option("--password-prompt", is_flag=True, help="Ask for the password (hidden).")
@click.option("--ldaps", "transport", flag_value="ldaps", help="LDAP over TLS, port 636 (default).")
@click.option("--starttls", "transport", flag_value="starttls", help="StartTLS on port 389.")
@click.option(
    "--insecure-ldap", "transport", flag_value="ldap",
    help="Plain LDAP: the password crosses the network in clear. Avoid.",
)  # fmt: skip
@click.option("--ca-file", metavar="PEM", help="CA certificate(s) the DC certificate chains to.")
@click.option("--tls-insecure", is_flag=True, help="Skip certificate validation (recorded).")
@click.option("--kerberos", is_flag=True, help="GSSAPI bind with your ticket (keyturn[kerberos]).")
@click.option("--ntlm", is_flag=True, help="NTLM bind (Windows DCs only; never works on Samba).")
@click.option("--dns-server", metavar="IP", help="Resolver for the SRV lookup of --domain.")
@click.option("--stale-days", type=click.IntRange(min=1), metavar="N", help="Stale after N days.")
@click.option(
    "--json",
    "json_out",
    metavar="FILE",
    type=JSON_OUT,
    help="Write the result as JSON ('-': stdout).",
)
@click.pass_obj
def ad(
    app, domain, server, user, password_env, password_prompt, transport, ca_file, tls_insecure,
    kerberos, ntlm, dns_server, stale_days, json_out,
) -> None:  # fmt: skip
    """Audit Active Directory: admins, dial-in, service and backdoor accounts.

    Reads (never writes) the domain over LDAPS: every effective member of the privileged
    groups (found by well-known SID, so localised names work) with the nesting path and
    primary-group members, RRAS/dial-in rights, service accounts, server and workstation
    counts, and hygiene findings (kerberoastable, AS-REP roastable, unconstrained
    delegation, stale, orphaned adminCount, ...). The bind is tried exactly once: a wrong
    password exits 3 without retrying. Exit 1 when any finding fired.

    Password: --password-env VAR, --password-prompt, or the keyring entry for
    (server or domain, user). Defaults come from the site config's [ad] table.

    \b
    Example:
      keyturn --config acme.toml ad --server 10.20.0.5 --user audit@acme.local \\
          --ca-file acme-ca.pem --json ad.json
      keyturn ad --domain acme.local --user audit@acme.local --password-prompt
    """
    from agent.ops.directory import ad_request, audit_directory

    if password_prompt and not app.interactive:
        raise UsageError("--password-prompt needs a terminal (or use --password-env)")
    request = ad_request(
        app, domain=domain, server=server, user=user, password_env=password_env,
        transport=transport, ca_file=ca_file, tls_insecure=tls_insecure, kerberos=kerberos,
        ntlm=ntlm, dns_server=dns_server, stale_days=stale_days,
        prompt=(lambda text: click.prompt(text, hide_input=True)) if password_prompt else None,
    )  # fmt: skip
    if request.tls_insecure:
        click.echo(
            "keyturn: warning: --tls-insecure: the DC's certificate is not validated; "
            "anyone on the path can read the bind password",
            err=True,
        )
    document = audit_directory(app, request)
    _output(document, json_out)
    if document["findings"]:
        sys.exit(EXIT_FINDINGS)


def _output(document: dict, json_out: str | None) -> None:
    if json_out:
        write_json(json_out, document)
    if json_out != "-":
        counts = document["counts"]
        click.echo(inert(
            f"run {document['run_id']}: {document['domain']['dns_name']}: "
            f"{counts['users']} users, {counts['computers']} computers, "
            f"{counts['privileged_accounts']} privileged accounts, "
            f"{counts['findings']} findings"
        ))  # fmt: skip
        for finding in document["findings"]:  # account names come from the directory
            click.echo(
                inert(f"  {finding['severity']:<8} {finding['rule']:<34} {finding['account']}")
            )
