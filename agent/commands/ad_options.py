"""The DC and bind options shared by `keyturn ad` and its plan/apply/undo subcommands."""

from __future__ import annotations

import click

from agent.core.errors import UsageError

# The DC and bind options: `keyturn ad` and its plan/apply/undo subcommands take the same.
_CONNECTION_OPTIONS = (
    click.option("--domain", metavar="DNS_NAME", help="Find a DC via DNS SRV records."),
    click.option("--server", metavar="HOST[:PORT]", help="Talk to this DC (wins over --domain)."),
    click.option("--user", metavar="USER",
                 help="Bind as USER (UPN, DOMAIN\\user or plain name)."),
    click.option("--password-env", metavar="VAR", help="Read the password from variable VAR."),
    click.option("--password-prompt", is_flag=True, help="Ask for the password (hidden)."),
    click.option("--ldaps", "transport", flag_value="ldaps",
                 help="LDAP over TLS, port 636 (default)."),
    click.option("--starttls", "transport", flag_value="starttls", help="StartTLS on port 389."),
    click.option("--insecure-ldap", "transport", flag_value="ldap",
                 help="Plain LDAP: the password crosses the network in clear. Avoid."),
    click.option("--ca-file", metavar="PEM",
                 help="CA certificate(s) the DC certificate chains to."),
    click.option("--tls-insecure", is_flag=True, help="Skip certificate validation (recorded)."),
    click.option("--kerberos", is_flag=True,
                 help="GSSAPI bind with your ticket (keyturn[kerberos])."),
    click.option("--ntlm", is_flag=True,
                 help="NTLM bind (Windows DCs only; never works on Samba)."),
    click.option("--dns-server", metavar="IP", help="Resolver for the SRV lookup of --domain."),
)  # fmt: skip
_CONNECTION_KEYS = ("domain", "server", "user", "password_env", "password_prompt", "transport",
                    "ca_file", "tls_insecure", "kerberos", "ntlm", "dns_server")  # fmt: skip


def connection_options(command):
    for option in reversed(_CONNECTION_OPTIONS):
        command = option(command)
    return command


def ad_request(app, connection: dict, *, stale_days: int | None = None):
    """The AdRequest for the DC options (password included; agent.ops.directory's rules),
    with the --tls-insecure warning."""
    from agent.ops.directory import ad_request as build

    if connection["password_prompt"] and not app.interactive:
        raise UsageError("--password-prompt needs a terminal (or use --password-env)")
    options = {k: v for k, v in connection.items() if k != "password_prompt"}
    request = build(
        app, **options, stale_days=stale_days,
        prompt=(lambda text: click.prompt(text, hide_input=True))
        if connection["password_prompt"] else None,
    )  # fmt: skip
    if request.tls_insecure:
        click.echo(
            "keyturn: warning: --tls-insecure: the DC's certificate is not validated; "
            "anyone on the path can read the bind password",
            err=True,
        )
    return request
