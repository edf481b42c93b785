"""keyturn ad plan | apply | undo: remediation as a reviewed plan, journalled, with an undo."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from agent.commands.ad_options import ad_request, connection_options
from agent.core.errors import EXIT_FINDINGS, UsageError
from agent.core.secret import Secret
from agent.core.terminal import inert


def _connection(ctx: click.Context, own: dict) -> dict:
    """This subcommand's DC options, falling back to those given to `keyturn ad` itself."""
    parent = ctx.meta.get("ad_connection", {})
    return {k: v if v not in (None, False) else parent.get(k, v) for k, v in own.items()}


def _write_private(path: Path, text: str) -> None:
    """0600, never through a symlink (a planted link must not redirect the plan)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


@click.command()
@connection_options
@click.option("--rule", "rules", multiple=True, metavar="ID", help="Only findings of rule ID.")
@click.option(
    "--account",
    "accounts",
    multiple=True,
    metavar="NAME",
    help="Only findings about NAME (account, principal or object).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Write the plan (JSON) to FILE.",
)
@click.option(
    "--ldif",
    "ldif_dir",
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="Also write DIR/apply.ldif and DIR/undo.ldif.",
)
@click.pass_context
def plan(ctx: click.Context, rules, accounts, out, ldif_dir, **connection) -> None:
    """Write a remediation plan for the latest 'keyturn ad' run.

    Re-reads the current values of every target from one DC (read-only) and writes one
    action per change: target DN and objectGUID, the values removed and added, whether it
    can be undone and what may break. Findings without a safe automatic fix are listed
    under "manual".

    \b
    Example:
      keyturn ad plan --rule dcsync_rights --rule adminsdholder_ace --out plan.json --ldif ldif/
    """
    from agent.directory.ldif import render
    from agent.directory.remediation import run_ad_plan

    app = ctx.obj
    request = ad_request(app, _connection(ctx, connection))
    with app.lock("ad"):
        result = run_ad_plan(
            app.store,
            request,
            app.config.scope_guard(),
            client=app.config.client,
            rules=rules,
            accounts=accounts,
        )
        app.audit.append(
            "ad.plan",
            result["domain"],
            "ok",
            detail={"actions": len(result["actions"]), "out": str(out)},
        )
    _write_private(Path(out), json.dumps(result, indent=2) + "\n")
    if ldif_dir:
        Path(ldif_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_private(Path(ldif_dir) / "apply.ldif", render(result))
        _write_private(Path(ldif_dir) / "undo.ldif", render(result, undo=True))
    click.echo(
        f"plan for {result['domain']} from run {result['source_run']}: "
        f"{len(result['actions'])} actions, {len(result['manual'])} manual -> {out}"
    )
    for action in result["actions"]:
        click.echo(f"  {action['id']:<5} {action['action']:<32} {inert(action['target_dn'])}")
        if not action["reversible"]:
            click.echo(f"        not reversible; invalidates: {inert(action['risk'])}")


@click.command()
@connection_options
@click.argument("plan_file", type=click.Path(exists=True, dir_okay=False), metavar="PLAN")
@click.option("--only", multiple=True, metavar="ID", help="Apply only action ID (repeatable).")
@click.option("--yes", is_flag=True, help="Do not ask (needed when not at a terminal).")
@click.option(
    "--force",
    is_flag=True,
    help="Reset krbtgt again before the maximum ticket lifetime plus clock skew has passed "
    "since the last reset (ends every ticket and trust at once).",
)
@click.pass_context
def apply(ctx: click.Context, plan_file, only, yes, force, **connection) -> None:
    """Apply a plan written by 'keyturn ad plan' over LDAP.

    Each action is journalled (store and audit log) before it is sent, addresses its
    object by objectGUID, and checks the plan's "before" in the same modify: an object
    changed since the plan is skipped, not overwritten. Never disables or protects the
    bind account, never empties Domain Admins. Exit 1 if any action was not applied.

    \b
    Example:
      keyturn ad apply plan.json --only a1 --only a2 --yes
    """
    from agent.directory.remediation import run_ad_apply, select, validate_plan

    app = ctx.obj
    try:
        loaded = json.loads(Path(plan_file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{plan_file}: not a readable JSON plan ({exc})") from None
    selected = select(validate_plan(loaded), only)
    _confirm(
        app,
        yes,
        [
            f"{a['id']:<5} {a['action']:<30} {inert(a['target_dn'])}\n"
            f"      risk: {inert(a['risk'])}"
            for a in selected
        ],
        f"Apply {len(selected)} change(s) to {inert(loaded['domain'])}?",
    )
    request = ad_request(app, _connection(ctx, connection))
    with app.lock("ad"):
        result = run_ad_apply(
            app.store,
            app.audit,
            request,
            app.config.scope_guard(),
            loaded,
            operator=app.operator,
            client=app.config.client,
            only=only,
            force=force,
            new_password=_krbtgt_password,
        )
    _report(f"apply run {result.run_id}", result.entries)
    if not result.complete:
        sys.exit(EXIT_FINDINGS)


@click.command()
@connection_options
@click.option(
    "--run",
    "run_id",
    required=True,
    type=int,
    metavar="RUN_ID",
    help="The 'ad apply' run to revert.",
)
@click.option("--only", multiple=True, metavar="ID", help="Revert only action ID (repeatable).")
@click.option("--yes", is_flag=True, help="Do not ask (needed when not at a terminal).")
@click.pass_context
def undo(ctx: click.Context, run_id, only, yes, **connection) -> None:
    """Revert the reversible actions of an 'ad apply' run, from its journal.

    Newest first, each only if the object still holds what the apply left; irreversible
    actions (password resets) are listed, not touched. Exit 1 if any was not reverted.

    \b
    Example:
      keyturn ad undo --run 42 --yes
    """
    from agent.directory.remediation import run_ad_undo
    from inventory.directory import load_journal

    app = ctx.obj
    journal = load_journal(app.store, run_id) or []
    applied = [e for e in journal if e["status"] == "applied" and (not only or e["id"] in only)]
    _confirm(
        app,
        yes,
        [f"{e['id']:<5} {e['action']:<30} {inert(e['target_dn'])}" for e in applied],
        f"Revert {len(applied)} change(s) of run {run_id}?",
    )
    request = ad_request(app, _connection(ctx, connection))
    with app.lock("ad"):
        result, irreversible = run_ad_undo(app.store, app.audit, request,
                                           app.config.scope_guard(), apply_run=run_id,
                                           operator=app.operator, client=app.config.client,
                                           only=only)  # fmt: skip
    _report(f"undo run {result.run_id} (of {run_id})", result.entries)
    for entry in irreversible:
        click.echo(f"  {entry['id']:<5} {entry['action']} cannot be undone: left as is")
    if not result.complete:
        sys.exit(EXIT_FINDINGS)


def _krbtgt_password(minimum: int) -> Secret:
    """A random password for krbtgt that fits the domain's minimum length (rotation's
    generator: every character class, so complexity rules accept it)."""
    from rotation.policy import PasswordPolicy

    return PasswordPolicy(min_length=minimum, max_length=max(minimum, 128)).generate(minimum)


def _confirm(app, yes: bool, lines: list[str], question: str) -> None:
    """Show what will change and ask; without a terminal only --yes goes on (exit 2)."""
    if yes:
        return
    if not app.interactive:
        raise UsageError("not at a terminal: review the plan and pass --yes to go ahead")
    for line in lines:
        click.echo(f"  {line}")
    if not click.confirm(question, default=False):
        raise UsageError("nothing changed")


def _report(title: str, entries: list[dict]) -> None:
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    click.echo(
        f"{title}: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing to do")
    )
    for entry in entries:
        reason = f": {inert(entry['reason'])}" if entry.get("reason") else ""
        click.echo(
            f"  {entry['id']:<5} {entry['status']:<8} {entry['action']:<30} "
            f"{inert(entry['target_dn'])}{reason}"
        )
