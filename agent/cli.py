"""The ``keyturn`` command: parses, calls one domain function, prints.

Command modules are imported only when their command runs (or ``--help`` lists them with the
short help recorded here), so ``keyturn --help`` never pays for scapy, nmap or netmiko.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from agent import __version__
from agent.context import AppContext
from agent.core.errors import EXIT_FAILED, KeyturnError

# name -> one-line help. Command NAME is the click command NAME in agent/commands/NAME.py;
# the order is the onboarding order.
COMMANDS: dict[str, str] = {
    "init": "Write a commented site config to fill in.",
    "discover": "Sweep the scope and review every IP device.",
    "ad": "Audit Active Directory: admins, dial-in, service and backdoor accounts.",
    "dns": "Record and check domains, mail security, AD zones and TLS certificates.",
    "topology": "Draw the network: switch ports, links, subnets and changes.",
    "review": "Review firewall rules and management: exposure, dead rules, fixes.",
    "secrets": "Import, list, reveal and export device credentials.",
    "rotate": "Change admin passwords on network devices, escrowed and verified.",
    "verify": "Log in with every stored credential and report which still work.",
    "checklist": "Track every inherited admin credential until it is changed.",
    "report": "Write the auditor reports (HTML, CSV, JSON, Markdown).",
    "audit": "Show or verify the tamper-evident audit log.",
    "sync": "Push this site's inventory to the MSP's central PostgreSQL store.",
    "onboard": "Discover, audit, rotate and report in one go.",
    "schedule": "Print or install systemd units for scheduled runs.",
    "doctor": "Check this machine is ready to run keyturn.",
    "lab": "The simulated client site for demos, tests and benchmarks.",
}  # fmt: skip


class KeyturnGroup(click.Group):
    """Lazy subcommands, and every KeyturnError as one line with its exit code."""

    def main(self, *args, **kwargs):
        # Before anything opens a file: a closed stdin (`<&-`) becomes /dev/null, so the
        # store never lands on descriptor 0 and every isatty() answers "not a terminal".
        from agent.core.terminal import guard_standard_descriptors

        guard_standard_descriptors()
        return super().main(*args, **kwargs)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        return getattr(importlib.import_module(f"agent.commands.{name}"), name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl(list(COMMANDS.items()))

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyturnError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except OSError as exc:
            _fail(
                f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}", EXIT_FAILED
            )
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # click's own usage errors and exits, printed by click
        except Exception as exc:
            if type(exc).__module__ == "sqlite3":
                # Damage the open-time quick_check could not see (a page that went bad
                # mid-run): still the store's fault, not keyturn's, and one line.
                _fail(f"inventory store error: {exc} (keyturn doctor checks it)", EXIT_FAILED)
            _crash(exc, verbose=bool(ctx.obj and ctx.obj.verbosity > 0))


def _crash(exc: Exception, *, verbose: bool) -> None:
    """A bug rather than bad input. Python's own traceback would print the exception text
    unscrubbed (a device may have echoed a password into it): one scrubbed line instead, and
    the scrubbed traceback with -v."""
    import traceback

    from agent.core.secret import scrub
    from agent.core.terminal import inert

    if verbose:
        trace = "".join(traceback.format_exception(exc))
        click.echo(inert(scrub(trace), keep_newlines=True), err=True)
    hint = "" if verbose else "; -v shows the traceback"
    _fail(f"unexpected {type(exc).__name__}: {exc} (a keyturn bug{hint})", EXIT_FAILED)


def _fail(message: str, code: int) -> None:
    # Errors quote devices, banners, files and names: scrubbed of secrets, and inert.
    from agent.core.secret import scrub
    from agent.core.terminal import inert

    click.echo(f"keyturn: error: {inert(scrub(message))}", err=True)
    sys.exit(code)


@click.group(cls=KeyturnGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="keyturn")
@click.option(
    "--config",
    "config_path",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Site config (TOML). Also KEYTURN_CONFIG.",
)
@click.option(
    "--store",
    "store_path",
    metavar="PATH",
    type=click.Path(dir_okay=False),
    help="Inventory store (SQLite). Default: one file per client in the data dir.",
)
@click.option(
    "--scope",
    multiple=True,
    metavar="CIDR",
    help="Networks this run may touch (repeatable); replaces the config's scope.",
)
@click.option("-v", "--verbose", count=True, help="More detail (repeatable).")
@click.option("-q", "--quiet", count=True, help="Errors only.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines on stderr as text or JSON lines.",
)
@click.option(
    "--log-file",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Also append JSON-lines logs to FILE.",
)
@click.option(
    "--non-interactive", is_flag=True, help="Never prompt (implied when stdin is not a terminal)."
)
@click.pass_context
def main(
    ctx: click.Context,
    config_path,
    store_path,
    scope,
    verbose,
    quiet,
    log_format,
    log_file,
    non_interactive,
) -> None:
    """keyturn: take over a client's IT in one sitting.

    Finds what is on the network, who holds admin rights and who can dial in, rotates the
    admin passwords the previous provider knew, and leaves auditors a tamper-evident record.

    \b
    Example:
      keyturn --config acme.toml onboard --rotate
    \b
    Exit codes: 0 success, 1 findings or partial failures, 2 usage or config error,
    3 operation failed.
    """
    from agent.core import logsetup
    from agent.core.labguard import refuse_outside_lab

    if ctx.invoked_subcommand != "lab":  # `lab exec` is how one enters the lab
        refuse_outside_lab(config_path or os.environ.get("KEYTURN_CONFIG"))
    logsetup.configure(verbosity=verbose - quiet, log_format=log_format, log_file=log_file)
    app = AppContext(
        config_path=config_path,
        store_path=store_path,
        verbosity=verbose - quiet,
        log_format=log_format,
        log_file=log_file,
        non_interactive=non_interactive,
        scope=tuple(scope),
    )
    ctx.obj = app
    ctx.call_on_close(app.close)
