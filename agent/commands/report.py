"""keyturn report: write the auditor reports from the store (it never rescans)."""

from __future__ import annotations

from pathlib import Path

import click

from agent.core.errors import EXIT_FINDINGS, KeyturnError, UsageError

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
@click.pass_obj
def report(app, run_id, latest, diff_from, formats, out_dir) -> None:
    """Write the auditor reports (HTML, CSV, JSON, Markdown) and print their paths.

    The report covers the client's current state: the newest discovery, the newest AD audit
    and every rotation, with the changes since the previous runs and the audit log's
    verification. Exit 1 when the audit log fails verification.

    \b
    Example:
      keyturn --config acme.toml report --format html --format csv --out ./audit
      keyturn --config acme.toml report --run 12 --diff-from 7 --format json
    """
    import reports

    if latest and run_id is not None:
        raise UsageError("--run and --latest are mutually exclusive")
    site = app.config  # a bad config is a usage error before anything else reports on it
    store = app.store
    for label, value in (("--run", run_id), ("--diff-from", diff_from)):
        if value is not None and not any(r.id == value for r in store.runs()):
            raise UsageError(f"{label} {value}: no such run in {store.path}")
    try:
        verdict = app.audit.verify()
    except KeyturnError as exc:
        # A report without the log check is still evidence; say so instead of failing.
        click.echo(f"keyturn: warning: audit log not verified: {exc}", err=True)
        verdict = None
    config = site.report
    client = site.client
    # The same default as onboard's report stage (docs/config.md, [report] out_dir).
    folder = Path(out_dir or config.out_dir or f"keyturn-report-{client}").expanduser()
    _, written = reports.generate(
        store,
        client=client,
        operator=app.operator,
        formats=formats or config.formats,
        out_dir=folder,
        run_id=run_id,
        diff_from=diff_from,
        audit=verdict,
    )
    if verdict is not None:
        app.audit.append(
            "report.write",
            app.config.client,
            "ok",
            detail={"files": [str(p) for p in written], "as_of": run_id, "diff_from": diff_from},
        )
    for path in written:
        click.echo(str(path))
    if verdict is not None and not verdict.ok:
        click.echo(f"keyturn: audit log FAILED verification: {verdict.describe()}", err=True)
        raise SystemExit(EXIT_FINDINGS)
