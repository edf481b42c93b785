"""keyturn onboard: discover, audit, rotate, fill the checklist and report in one go."""

from __future__ import annotations

import click

from agent.commands import JSON_OUT, write_json

MARKS = {
    "ok": "[green]ok[/]",
    "findings": "[yellow]findings[/]",
    "partial": "[yellow]partial[/]",
    "failed": "[red]FAILED[/]",
    "skipped": "[dim]skipped[/]",
    "refused": "[red]refused[/]",
}


@click.command()
@click.option("--rotate", is_flag=True, help="Also rotate device passwords (shows the plan first).")
@click.option("--yes", is_flag=True, help="Approve the rotation plan without asking.")
@click.option(
    "--json",
    "json_out",
    metavar="FILE",
    type=JSON_OUT,
    help="Also write the summary as JSON ('-').",
)
@click.pass_obj
def onboard(app, rotate: bool, yes: bool, json_out: str | None) -> None:
    """Discover, audit, rotate and report in one go.

    Stages: discover -> topology -> firewall review (read-only; skipped without a stored
    firewall credential) -> directory audit (skipped without [ad] server/domain) -> rotation
    (only with --rotate or [rotation] enabled; shows the plan and asks unless --yes) ->
    credential checklist -> report. A failed stage does not stop the others.

    A run that cannot ask (no terminal, --non-interactive) refuses an unapproved rotation
    at once with exit 2, before scanning anything. Another run on the same client store
    makes this one exit 3 at once, touching nothing.

    Exit: 0 all stages ok; 1 findings or partial failures; 2 usage (unapproved rotation,
    missing bind password); 3 a stage failed or another run holds the store.

    \b
    Example:
      keyturn --config acme.toml onboard --rotate
      keyturn --config acme.toml --non-interactive onboard --rotate --yes
    """
    from agent import onboard as domain

    terminal = _Terminal(_console(stderr=True), app.interactive)
    result = domain.run(
        app,
        rotate=rotate,
        yes=yes,
        progress=terminal.report,
        confirm=terminal.confirm if app.interactive else None,
    )
    _print_summary(_console(stderr=False), result)
    if json_out:
        write_json(json_out, domain.summary_document(result))
    raise SystemExit(result.exit_code)


def _console(*, stderr: bool):
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        console = Console(stderr=stderr, highlight=False, width=160)  # a log: do not wrap at 80
    return console


class _Terminal:
    """Stage lines on stderr: a spinner per stage on a terminal, plain lines in a log."""

    def __init__(self, console, interactive: bool) -> None:
        self.console = console
        self.interactive = interactive
        self.status = None

    def report(self, stage: str, event: str, payload) -> None:
        if event == "tick":
            if self.status is not None:
                self.status.update(f"{stage}: {payload}")
            return
        if event == "start":
            if self.interactive:
                self.status = self.console.status(f"{stage} ...")
                self.status.start()
            else:
                self.console.print(f"- {stage} ...", soft_wrap=True)
            return
        self._stop()
        from agent.core.terminal import inert

        detail = f": {inert(payload.detail, markup=True)}" if payload.detail else ""
        self.console.print(
            f"{MARKS.get(payload.status, payload.status)} {stage} ({payload.seconds:.1f} s)"
            f"{detail}",
            soft_wrap=True,
        )

    def confirm(self, plan: str) -> bool:
        self._stop()  # a spinner redrawing over the question would garble it
        from agent.core.terminal import inert

        click.echo(inert(plan, keep_newlines=True), err=True)  # names from scans and CSVs
        return click.confirm("Rotate these passwords now?", default=False, err=True)

    def _stop(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None


def _print_summary(console, result) -> None:
    from rich.markup import escape
    from rich.table import Table

    s = result.summary
    table = Table(title=f"Onboarding summary (run {result.run_id})", show_header=False)
    table.add_column("what")
    table.add_column("result", overflow="fold")
    for stage in result.stages:
        table.add_row(f"stage {stage.name}", MARKS.get(stage.status, stage.status))
    classes = ", ".join(f"{k} {v}" for k, v in sorted(s["hosts_by_class"].items()))
    table.add_row("hosts", f"{s['hosts']}" + (f" ({classes})" if classes else ""))
    table.add_row("privileged accounts", str(s["privileged_accounts"]))
    table.add_row("dial-in allowed", str(s["dialin_allowed"]))
    rotations = s["rotations"]
    table.add_row(
        "rotations",
        f"rotated {rotations.get('rotated', 0)}, failed {rotations.get('failed', 0)}"
        + "".join(
            f", {k} {v}" for k, v in sorted(rotations.items()) if k not in ("rotated", "failed")
        ),
    )
    findings = ", ".join(f"{k} {v}" for k, v in sorted(s["findings"].items())) or "none"
    table.add_row("findings", findings)
    checklist = s["checklist"]
    table.add_row(
        "checklist",
        f"open {checklist['open']}, changed {checklist['changed']}, "
        f"not applicable {checklist['not_applicable']}, accepted risk "
        f"{checklist['accepted_risk']} ({checklist['added']} new)",
    )
    table.add_row("report", escape(", ".join(s["report"])) or "none")
    table.add_row("exit code", str(result.exit_code))
    console.print(table)
