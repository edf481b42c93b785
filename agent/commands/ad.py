"""keyturn ad: audit Active Directory over LDAP (read-only) and store the run; its plan,
apply and undo subcommands remediate (agent/commands/ad_remediate.py)."""

from __future__ import annotations

import sys

import click

from agent.commands import JSON_OUT, write_json
from agent.commands.ad_options import ad_request, connection_options
from agent.commands.ad_remediate import apply, plan, undo
from agent.core.errors import EXIT_FINDINGS
from agent.core.terminal import inert


@click.group(invoke_without_command=True)
@connection_options
@click.option("--stale-days", type=click.IntRange(min=1), metavar="N", help="Stale after N days.")
@click.option(
    "--json",
    "json_out",
    metavar="FILE",
    type=JSON_OUT,
    help="Write the result as JSON ('-': stdout).",
)
@click.pass_context
def ad(ctx: click.Context, stale_days, json_out, **connection) -> None:
    """Audit Active Directory: admins, dial-in, service and backdoor accounts.

    Reads (never writes) the domain over LDAPS: every effective member of the privileged
    groups (found by well-known SID, so localised names work) with the nesting path and
    primary-group members, RRAS/dial-in rights, service accounts, server and workstation
    counts, hygiene findings (kerberoastable, AS-REP roastable, unconstrained
    delegation, stale, orphaned adminCount, ...) and directory backdoors (replication
    rights, AdminSDHolder ACEs, RBCD, owners, machine quota, password policy). The bind is
    tried exactly once: a wrong password exits 3 without retrying. Exit 1 when any finding
    fired.

    Remediation: 'ad plan' writes a reviewed plan from the latest run, 'ad apply' applies
    it (journalled), 'ad undo' reverts an apply run.

    Password: --password-env VAR, --password-prompt, or the keyring entry for
    (server or domain, user). Defaults come from the site config's [ad] table.

    \b
    Example:
      keyturn --config acme.toml ad --server 10.20.0.5 --user audit@acme.local \\
          --ca-file acme-ca.pem --json ad.json
      keyturn ad --domain acme.local --user audit@acme.local --password-prompt
    """
    if ctx.invoked_subcommand is not None:
        # `keyturn ad --server X plan ...`: the subcommand inherits the group's DC options.
        ctx.meta["ad_connection"] = connection
        return
    from agent.ops.directory import audit_directory

    app = ctx.obj
    request = ad_request(app, connection, stale_days=stale_days)
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
        for finding in document["findings"]:  # names come from the directory
            subject = finding.get("account") or finding.get("principal") or finding.get("object")
            click.echo(inert(f"  {finding['severity']:<8} {finding['rule']:<34} {subject}"))


ad.add_command(plan)
ad.add_command(apply)
ad.add_command(undo)
