"""keyturn dns: the client's domains, mail security, AD zones and TLS certificates."""

from __future__ import annotations

import sys

import click

from agent.commands import JSON_OUT, write_json
from agent.core.errors import EXIT_FINDINGS


@click.command()
@click.option(
    "--domain",
    "domains",
    multiple=True,
    metavar="NAME",
    help="Domain to check (repeatable). Default: [dns] domains.",
)
@click.option(
    "--nameserver",
    "nameservers",
    multiple=True,
    metavar="IP",
    help="Resolver to ask (repeatable). Default: [dns] nameservers, else the DNS "
    "servers discovery found.",
)
@click.option("--no-ad", is_flag=True, help="Do not read the AD-integrated zones.")
@click.option(
    "--json",
    "json_out",
    metavar="FILE",
    type=JSON_OUT,
    help="Write the result as JSON ('-': stdout).",
)
@click.pass_obj
def dns(app, domains, nameservers, no_ad, json_out) -> None:
    """Record and check the client's web and DNS properties.

    Public DNS of each domain (NS, SOA, MX, A, SPF, DMARC, DKIM, MTA-STS, TLS-RPT, CAA,
    DNSSEC, open zone transfer, dangling CNAMEs), registration over RDAP, the AD-integrated
    zones read over LDAP with the [ad] account, and the certificate, protocol and HTTPS
    redirect of every TLS and HTTP service the latest discover run found. Queries go only to
    the resolvers named here, in [dns] nameservers or found by discovery, each inside the
    scope. The run is stored; changed records and certificates since the previous run are
    listed. Exit 1 when any finding fired.

    \b
    Example:
      keyturn --config acme.toml dns --json dns.json
      keyturn dns --domain acme.com --nameserver 10.20.0.53
    """
    from agent.ops.dns import check_dns, dns_request

    request = dns_request(app, domains=list(domains), nameservers=list(nameservers))
    document = check_dns(app, request, internal=not no_ad)
    if json_out:
        write_json(json_out, document)
    if json_out != "-":
        _print(document)
    if document["findings"]:
        sys.exit(EXIT_FINDINGS)


def _print(document: dict) -> None:
    from agent.core.terminal import inert as _inert

    click.echo(
        f"run {document['run_id']}: {len(document['domains'])} domains, "
        f"{len(document['certificates'])} TLS services, "
        f"{len(document['internal_zones'])} AD zones, {len(document['findings'])} findings, "
        f"{len(document['changes'])} changes in {document['timings']['total']:.2f} s"
    )
    for finding in document["findings"]:
        click.echo(f"  {finding['severity']:<8} {finding['id']:<24} {_inert(finding['target'])}")
    for change in document["changes"]:
        click.echo(
            f"  {change['severity']:<8} {change['change']:<24} {_inert(change['subject'])}: "
            f"{_inert(change['old'] or '-')} -> {_inert(change['new'] or '-')}"
        )
    for warning in document["warnings"]:
        click.echo(f"  warning: {_inert(warning)}", err=True)
