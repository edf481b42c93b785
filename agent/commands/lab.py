"""keyturn lab: build, inspect, use and remove the simulated client site (needs root)."""

from __future__ import annotations

import json
import os
import time

import click

from agent.core.errors import OperationFailed, PrivilegeError, UsageError


@click.group()
def lab() -> None:
    """The simulated client site for demos, tests and benchmarks.

    A lab is a set of network namespaces on this machine (routers, firewalls, switches with
    SSH simulators, printers, NAS, phones, Windows hosts, a Samba AD DC) on 198.18.0.0/24 and,
    behind a router, 198.18.1.0/24. Nothing in it can reach a real network. Needs root.

    \b
    Example:
      keyturn lab up
      keyturn lab exec -- keyturn discover
      keyturn lab down
    """


@lab.command()
@click.option(
    "--size",
    type=click.Choice(["small", "large"]),
    default="small",
    show_default=True,
    help="small: ~30 hosts; large: 198.18.0.0/16 with ~4000 live hosts.",
)
@click.option("--id", "lab_id", metavar="ID", help="Lab id to use (kt + 6 hex digits).")
@click.option("--no-dc", is_flag=True, help="Leave out the Samba AD domain controller.")
@click.option(
    "--ad-size",
    type=click.Choice(["small", "large"]),
    default="small",
    show_default=True,
    help="Directory size of the DC (large: ~10k users).",
)
def up(size: str, lab_id: str | None, no_dc: bool, ad_size: str) -> None:
    """Build a lab and print where its site config and manifest are.

    Device passwords are made up at random and stored in the keyring of the lab's client
    (lab-<id>); the manifest and site config name users only.

    \b
    Example:
      keyturn lab up --size small
    """
    _need_root()
    from lab.site import Lab

    started = time.monotonic()
    with _lab_errors():
        built = Lab.up(size, lab_id=lab_id, with_dc=not no_dc, ad_size=ad_size)
    hosts = built.manifest["hosts"]
    click.echo(
        f"lab {built.lab_id} up in {time.monotonic() - started:.1f} s: {len(hosts)} hosts"
        + (f" + {len(built.manifest.get('phantoms', []))} phantoms" if size == "large" else "")
    )
    click.echo(f"  client       {built.client}")
    click.echo(f"  site config  {built.site_config_path}")
    click.echo(f"  manifest     {built.state_dir / 'manifest.json'}")
    click.echo(f"  technician   netns {built.tech_ns}, {built.manifest['tech']['ip']}")
    click.echo("Run inside it: keyturn lab exec -- keyturn discover")


@lab.command()
@click.argument("lab_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(lab_id: str | None, as_json: bool) -> None:
    """Show the labs on this machine and whether their namespaces and processes are alive.

    \b
    Example:
      keyturn lab status --json
    """
    _need_root()
    from lab import state

    ids = [lab_id] if lab_id else state.list_labs()
    with _lab_errors():
        rows = [state.status(i) for i in ids]
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    if not rows:
        click.echo("no labs")
    for row in rows:
        click.echo(
            f"{row['lab_id']}  {row['status']:<9} {row['size']:<6} "
            f"netns {row['namespaces_present']}/{row['namespaces']}  "
            f"processes {row['processes_alive']}/{row['processes']}  {row['site_config']}"
        )


@lab.command()
@click.argument("lab_id", required=False)
@click.option("--keep-secrets", is_flag=True, help="Leave the lab's keyring entries in place.")
def down(lab_id: str | None, keep_secrets: bool) -> None:
    """Remove a lab: exactly the namespaces and processes it recorded.

    Works for a lab whose `lab up` crashed half-way. Without LAB_ID, the only lab.

    \b
    Example:
      keyturn lab down kt1a2b3c
    """
    _need_root()
    from lab import state
    from lab.site import Lab

    started = time.monotonic()
    lab_id = lab_id or _only_lab()
    with _lab_errors():
        target = Lab.load(lab_id)
        owner = state.ProcessRecord(target.state.owner_pid, target.state.owner_start_time, "")
        if target.state.status == "starting" and state.alive(owner):
            raise UsageError(
                f"lab {lab_id} is still being built by PID {owner.pid}; stop that first"
            )
        target.down(forget_secrets=not keep_secrets)
    click.echo(f"lab {lab_id} down in {time.monotonic() - started:.1f} s")


@lab.command(name="exec", context_settings={"ignore_unknown_options": True})
@click.option(
    "--lab",
    "lab_id",
    metavar="ID",
    envvar="KEYTURN_LAB",
    help="Which lab (default: the only one). Also KEYTURN_LAB.",
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(lab_id: str | None, command: tuple[str, ...]) -> None:
    """Run COMMAND in the lab's technician namespace, with this environment.

    KEYTURN_CONFIG defaults to the lab's site config, so keyturn commands find the lab's
    scope, SNMP community, AD server and client name without flags.

    \b
    Example:
      keyturn lab exec -- keyturn discover --json -
      keyturn lab exec -- nmap -sn 198.18.0.0/24
    """
    _need_root()
    from lab.site import Lab

    with _lab_errors():
        target = Lab.load(lab_id or _only_lab())
    env = dict(os.environ)
    env.setdefault("KEYTURN_CONFIG", str(target.site_config_path))
    argv = [*target.exec_prefix(), *command]
    try:
        os.execvpe(argv[0], argv, env)  # noqa: S606 - the command replaces keyturn
    except OSError as exc:
        raise OperationFailed(f"cannot run {command[0]}: {exc.strerror}") from None


def _need_root() -> None:
    if os.geteuid() != 0:
        raise PrivilegeError("the lab needs root (it creates network namespaces): use sudo")


def _only_lab() -> str:
    from lab import state

    labs = state.list_labs()
    if len(labs) != 1:
        raise UsageError(
            "no lab is up" if not labs else f"{len(labs)} labs are up ({', '.join(labs)}): name one"
        )
    return labs[0]


class _lab_errors:
    """Lab failures as one-line keyturn errors (exit 3; a bad lab id is a usage error)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        from lab.site import LabError

        if exc is None or not isinstance(exc, Exception):
            return False
        if isinstance(exc, ValueError):
            raise UsageError(str(exc)) from None
        if isinstance(exc, (LabError, RuntimeError, OSError)):
            raise OperationFailed(f"lab: {exc}") from None
        return False
