"""keyturn report: write the auditor reports from the store (it never rescans)."""

from __future__ import annotations

import click

from agent.core.errors import EXIT_FINDINGS, UsageError

FORMATS = ("html", "csv", "json", "md")


@click.command()
@click.option("--run", "run_id", type=int, metavar="ID", help="The state as of run ID.")
@click.option("--latest", is_flag=True, help="The newest finished run of each kind (the default).")
@click.option(
    "--diff-from",
    type=int,
    metavar="RUN",
    help="Show changes since RUN (default: the previous discover and AD runs).",
)
@click.option(
    "--format",
    "formats",
    type=click.Choice(FORMATS),
    multiple=True,
    help="Output format; repeatable. Default: [report] formats in the config (html).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="Folder for the files. Default: [report] out_dir, else ./keyturn-report-<client>.",
)
@click.option(
    "--all-clients",
    is_flag=True,
    help="One row per client of the central store (--store postgresql://...): html|csv|json.",
)
@click.pass_obj
def report(app, run_id, latest, diff_from, formats, out_dir, all_clients) -> None:
    """Write the auditor reports (HTML, CSV, JSON, Markdown) and print their paths.

    The report covers the client's current state: the newest discovery, the newest AD audit
    and every rotation, with the changes since the previous runs and the audit log's
    verification. Exit 1 when the audit log fails verification.

    \b
    Example:
      keyturn --config acme.toml report --format html --format csv --out ./audit
      keyturn --config acme.toml report --run 12 --diff-from 7 --format json
      keyturn --store postgresql://keyturn@db/keyturn report --all-clients --format csv
    """
    if all_clients:
        from agent.ops.msp_report import write_all_clients

        for path in write_all_clients(app, list(formats), out_dir):
            click.echo(str(path))
        return
    from agent.ops.report import write_report

    if latest and run_id is not None:
        raise UsageError("--run and --latest are mutually exclusive")
    written = write_report(
        app, formats=formats, out_dir=out_dir, run_id=run_id, diff_from=diff_from
    )
    if written.unverified is not None:
        click.echo(f"keyturn: warning: audit log not verified: {written.unverified}", err=True)
    for path in written.paths:
        click.echo(str(path))
    verdict = written.verdict
    if verdict is not None and not verdict.ok:
        click.echo(f"keyturn: audit log FAILED verification: {verdict.describe()}", err=True)
        raise SystemExit(EXIT_FINDINGS)
