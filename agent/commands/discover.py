"""keyturn discover: sweep the scope, enrich live hosts, store the run and show the diff."""

from __future__ import annotations

import gc
import sys
import threading
import time

import click

from agent.commands import JSON_OUT, write_json
from agent.core.errors import EXIT_FINDINGS
from agent.core.terminal import inert

EXIT_INTERRUPTED = 130  # as for Ctrl-C anywhere else in keyturn (agent/cli.py)


@click.command()
@click.option("--scope", multiple=True, metavar="CIDR", help="Network to sweep (repeatable).")
@click.option("--exclude", multiple=True, metavar="CIDR", help="Never send to these (repeatable).")
@click.option("--iface", metavar="IFACE", help="Interface for the ARP sweep when several fit.")
@click.option("--rate", metavar="PPS", help="ARP requests per second, or 'max'. Default 3000.")
@click.option("--ports", metavar="top100|LIST", help="Ports nmap checks: top100 or 22,80,443.")
@click.option("--no-nmap", is_flag=True, help="Sweep only: no service, OS or NetBIOS scan.")
@click.option("--snmp-community", multiple=True, metavar="NAME", help="SNMP v2c community to try.")
@click.option(
    "--json",
    "json_out",
    metavar="FILE",
    type=JSON_OUT,
    help="Write the result as JSON ('-': stdout).",
)
@click.option(
    "--import-nmap",
    metavar="FILE.xml",
    type=click.Path(dir_okay=False),
    help="Take an existing nmap XML scan into the inventory instead of scanning.",
)
@click.pass_obj
def discover(
    app, scope, exclude, iface, rate, ports, no_nmap, snmp_community, json_out, import_nmap
) -> None:
    """Sweep the scope and review every IP device.

    ARP-sweeps local segments, ping-sweeps routed ones with nmap, then asks nmap for services
    and OS, reverse DNS and NetBIOS for names and SNMP (only with the communities you give)
    for system descriptions, and classifies each device (class and netmiko platform). The run
    is stored with a diff against the previous discover run; a MAC change on an IP is flagged.
    Needs root or CAP_NET_RAW.

    \b
    Example:
      keyturn --config acme.toml discover --scope 10.20.0.0/24 --exclude 10.20.0.5 --json -
      keyturn discover --import-nmap old-provider-scan.xml
    """
    from agent.ops import discover as usecase

    if import_nmap:
        document = usecase.import_nmap(app, import_nmap, scope=scope, exclude=exclude)
    else:
        options = usecase.discover_options(
            app, iface=iface, rate=rate, ports=ports, no_nmap=no_nmap, communities=snmp_community
        )
        with _progress(app.interactive and json_out != "-") as progress:
            document = usecase.discover(
                app, options, scope=scope, exclude=exclude, progress=progress
            )
    _output(document, json_out)
    # Nothing allocated so far is needed again: frozen objects are skipped by the collections
    # at interpreter exit (~20 ms of a sweep-only run, as long as the /24 sweep's wait).
    gc.freeze()
    stopped = document.get("interrupted")
    if stopped:
        click.echo(
            f"keyturn: interrupted ({stopped['reason']}): run {document['run_id']} kept as "
            f"partial ({len(document['hosts'])} hosts, {len(stopped['enriched'])} enriched); "
            "the next discover of this scope resumes it",
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)
    if document["errors"]:
        sys.exit(EXIT_FINDINGS)


class _progress:
    """Progress of each stage: on a terminal a rich bar per stage (done / total, rate and
    time left, on stderr); otherwise one line on stderr when a stage starts and ends and
    every ``LOG_INTERVAL`` seconds in between, for logs and schedulers."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = None
        self.tasks: dict[str, int] = {}
        self.log = _ProgressLog()

    def __enter__(self):
        if not self.enabled:
            return self.log.update
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )  # fmt: skip

        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("found {task.fields[found]}"), _rate_column(),
            TimeRemainingColumn(compact=True),
            console=Console(stderr=True), transient=True,
        )  # fmt: skip
        self.bar.start()
        return self.update

    def update(self, stage: str, done: int, total: int, found: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=total, found=found)
        self.bar.update(self.tasks[stage], completed=done, total=total, found=found)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


LOG_INTERVAL = 10.0  # seconds between two progress lines of a running stage


class _ProgressLog:
    """Progress as plain lines: 'discover: nmap ports 1024/4066 hosts (25%), found 3900,
    about 40 s left'. The estimate is the stage's own pace so far."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.last = 0.0
        self.finished: set[str] = set()
        self.lock = threading.Lock()

    def update(self, stage: str, done: int, total: int, found: int) -> None:
        now = time.monotonic()
        with self.lock:
            if stage in self.finished:
                return
            if stage not in self.started:
                self.started[stage] = now
                self.last = now
                click.echo(f"discover: {stage} started: {total} to do", err=True)
                return
            took = now - self.started[stage]
            if total and done >= total:
                self.finished.add(stage)
                click.echo(
                    f"discover: {stage} done: {done}/{total} in {took:.1f} s, found {found}",
                    err=True,
                )
            elif now - self.last >= LOG_INTERVAL:
                self.last = now
                share = done / total if total else 0.0
                left = f", about {took * (1 - share) / share:.0f} s left" if share else ""
                click.echo(
                    f"discover: {stage} {done}/{total} ({share:.0%}), found {found}{left}",
                    err=True,
                )


def _rate_column():
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Probes per second of the running stage (the ARP sweep's achieved rate)."""

        def render(self, task) -> Text:
            return Text(f"{task.speed:,.0f}/s" if task.speed else "")

    return RateColumn()


def _output(document: dict, json_out: str | None) -> None:
    if json_out:
        write_json(json_out, document, sort_keys=True)
    diff = document["diff"]
    for moved in diff["mac_changed"]:
        click.secho(
            f"WARNING: {moved['ip']} now answers from MAC {moved['new']} "
            f"(was {moved['old']}): replaced device or ARP spoofing",
            fg="red", bold=True, err=True,
        )  # fmt: skip
    for error in document["errors"]:
        click.echo(inert(f"keyturn: warning: {error}"), err=True)
    if json_out == "-":
        return
    for host in document["hosts"]:
        ports = ",".join(str(p["port"]) for p in host["ports"] if p["state"] == "open")
        # Vendors, classes and platforms come from the network (SNMP, HTTP, banners).
        click.echo(inert(
            f"{host['ip']:<16}{host['mac'] or '-':<19}{(host['vendor'] or '-')[:22]:<23}"
            f"{host['device_class']:<13}{host['platform'] or '-':<19}{ports}"
        ))  # fmt: skip
    click.echo(
        f"run {document['run_id']}: {len(document['hosts'])} hosts; "
        f"{len(diff['new'])} new, {len(diff['gone'])} gone, {len(diff['changed'])} changed"
        + (f" since run {diff['previous_run_id']}" if diff["previous_run_id"] else "")
    )
