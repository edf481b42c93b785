"""keyturn secrets: import, list, reveal and export device credentials."""

from __future__ import annotations

import os

import click

from agent.core.errors import UsageError


@click.group()
def secrets() -> None:
    """Import, list, reveal and export device credentials (kept in the OS keyring).

    \b
    Example:
      keyturn --config acme.toml secrets import inherited.csv
      keyturn --config acme.toml secrets list
      keyturn --config acme.toml secrets get 198.18.0.1 admin --reveal
    """


@secrets.command("import")
@click.argument("csv_file", metavar="FILE.csv", type=click.Path(dir_okay=False, exists=True))
@click.pass_obj
def import_(app, csv_file) -> None:
    """Import credentials from a CSV file.

    Columns: host, username, password, and optionally enable_secret, platform.

    \b
    Example:
      keyturn --config acme.toml secrets import inherited.csv
    """
    from agent.ops import transfer

    rows = transfer.read_csv(csv_file, app.config.scope_guard)
    with app.lock("secrets import"):
        count = transfer.import_rows(app.secret_store, rows)
    app.audit.append("secrets.import", str(csv_file), "ok", detail={"credentials": count})
    click.echo(f"imported {count} credential(s) into {app.secret_store.service}")


@secrets.command("set")
@click.argument("host")
@click.argument("user")
@click.option("--password-env", metavar="VAR", help="Read the password from this variable.")
@click.option("--platform", help="The device platform (netmiko device_type, or active_directory).")
@click.pass_obj
def set_(app, host, user, password_env, platform) -> None:
    """Store the current password of USER on HOST (prompts, or --password-env).

    \b
    Example:
      keyturn --config acme.toml secrets set 198.18.0.1 admin --platform cisco_ios
    """
    from agent.core.secret import Secret
    from agent.ops.credentials import check_names, password_refusal

    # Names first: nobody types a password for a host that will be refused.
    host, user, platform = check_names(host, user, platform, app.config.scope_guard)
    if password_env:
        value = os.environ.get(password_env)
        if not value:
            raise UsageError(f"{password_env} is not set or empty")
    elif app.interactive:
        value = click.prompt(
            f"password for {user}@{host}", hide_input=True, confirmation_prompt=True, err=True
        )
    else:
        raise UsageError("not on a terminal: pass --password-env VAR")
    secret = Secret(value)
    refusal = password_refusal(secret, platform)
    if refusal:
        raise UsageError(f"{user}@{host}: {refusal}")
    store = app.secret_store
    with app.lock("secrets set"):  # one writer per client keyring; a damaged log refuses first
        existing = store.get(host, user, "current")
        if existing is not None and existing != secret:
            store.put(host, user, existing, "previous", platform=platform)
        store.put(host, user, secret, "current", platform=platform)
        app.audit.append("secrets.set", f"{user}@{host}", "ok", detail={"platform": platform})
    click.echo(f"stored {user}@{host}")


@secrets.command("list")
@click.pass_obj
def list_(app) -> None:
    """List stored credentials: names, platforms and versions, never values.

    \b
    Example:
      keyturn --config acme.toml secrets list
    """
    from agent.core.terminal import inert

    for entry in app.secret_store.entries():
        versions = ", ".join(f"{v} {t}" for v, t in sorted(entry.versions.items()))
        # Names came from an inherited CSV: no escape sequence reaches the terminal.
        line = f"{entry.user + '@' + entry.host:40} {entry.platform or '-':18} {versions}"
        click.echo(inert(line))


@secrets.command("get")
@click.argument("host")
@click.argument("user")
@click.option("--reveal", is_flag=True, help="Required: print the value (audit-logged).")
@click.option(
    "--version",
    "version",
    type=click.Choice(["current", "pending", "previous"]),
    default="current",
    show_default=True,
)
@click.pass_obj
def get(app, host, user, reveal, version) -> None:
    """Print one stored password. Every reveal is written to the audit log.

    \b
    Example:
      keyturn --config acme.toml secrets get 198.18.0.1 admin --reveal
    """
    from agent.core.identifiers import check_host

    if not reveal:
        raise UsageError("this prints a password: add --reveal")
    host = check_host(host)  # stored normalised: Router1 is router1, 010.0.0.1 refused
    value = app.secret_store.get(host, user, version)
    outcome = "revealed" if value is not None else "missing"
    app.audit.append("secrets.reveal", f"{user}@{host}", outcome, detail={"version": version})
    if value is None:
        raise UsageError(f"no {version} password stored for {user}@{host}")
    click.echo(value.reveal())


@secrets.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "bitwarden-json"]), required=True)
@click.option(
    "--out",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Write here (mode 0600) instead of stdout.",
)
@click.option("--force", is_flag=True, help="Replace an existing --out file (atomically).")
@click.pass_obj
def export(app, fmt, out, force) -> None:
    """Export every current password for a password manager (plaintext: handle with care).

    \b
    Example:
      keyturn --config acme.toml secrets export --format bitwarden-json --out acme.json
    """
    from agent.ops import transfer

    if out and not force and os.path.lexists(out):  # refused before the keyring is read
        raise UsageError(f"{out}: already exists (--force replaces it)")
    rows = transfer.export_rows(app.secret_store)
    text = transfer.render(rows, fmt)
    app.audit.append(
        "secrets.export", out or "<stdout>", "ok", detail={"format": fmt, "credentials": len(rows)}
    )
    if out:
        transfer.write_private(out, text, force=force)
    else:
        click.echo(text, nl=False)
    where = out or "the output above"
    click.echo(
        f"warning: {where} holds {len(rows)} plaintext password(s); import it into "
        "the vault and delete it",
        err=True,
    )


@secrets.command("migrate")
@click.option(
    "--to",
    "to",
    type=click.Choice(["vault"]),
    required=True,
    help="The backend to move this client's credentials into ([secrets] table).",
)
@click.pass_obj
def migrate(app, to) -> None:
    """Copy this client's keyring credentials and audit key into the vault, proving each by
    reading it back. The keyring keeps its copy until you delete it.

    \b
    Example:
      VAULT_TOKEN=... keyturn --config acme.toml secrets migrate --to vault
    """
    from agent.core import secret_backends

    settings = app.config.secrets
    with app.lock("secrets migrate"):
        source = secret_backends.open_secret_store(
            app.config.client, settings, interactive=app.interactive, backend="keyring"
        )
        target = secret_backends.open_secret_store(app.config.client, settings, backend=to)
        moved = secret_backends.migrate(source, target)
    app.audit.append(
        "secrets.migrate",
        target.service,
        "ok",
        detail={"credentials": moved.credentials, "versions": moved.versions},
    )
    click.echo(
        f"migrated {moved.credentials} credential(s) ({moved.versions} version(s))"
        f"{' and the audit key' if moved.audit_key else ''} from {source.service} to "
        f"{target.service}; each read back"
    )
