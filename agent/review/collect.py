"""Read-only collection of a firewall's rule base through a session the caller opened
(``send(command) -> output``): the platform parser's CONFIG_COMMANDS, whose outputs joined by
'\\n' are the text ``parse()`` reads (the same text ``--import-config`` takes from a backup),
then its COUNTER_COMMANDS.

Read-only is enforced here, not assumed: every command must match the platform's read-only
grammar (``show``/``get``/``print``/``export``/``nft list`` ...) before it is sent, and only
the parsers' fixed command strings are ever sent: nothing a device or a file says becomes
part of a command. Opening the session without changing the device (FortiOS's console
paging, ASA's terminal width) is the session's job (agent/ops/review_session.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.core.errors import UsageError
from agent.core.secret import scrub

# What a review may send, per platform: display commands only. Anything else is refused
# before it reaches the device (a parser bug must not become a configuration change).
READ_ONLY: dict[str, re.Pattern[str]] = {
    "fortinet": re.compile(
        r"(show|get) [\w .+-]*|show|diagnose firewall iprope (list|show) \d+( \d+)?"
    ),
    "cisco_asa": re.compile(r"show [\w .|^-]+"),
    "cisco_ios": re.compile(r"show [\w .|^-]+"),
    "cisco_nxos": re.compile(r"show [\w .|^-]+"),
    "arista_eos": re.compile(r"show [\w .|^-]+"),
    "juniper_junos": re.compile(r"show [\w .-]+( \| (display set|display json|no-more))*"),
    "mikrotik_routeros": re.compile(
        r"(/[\w -]+ )?/?(export( (terse|hide-sensitive|without-paging))*|"
        r"[\w -]*print( (stats|detail|terse|without-paging))*)"
    ),
    "linux": re.compile(
        r"(sudo -n )?(nft (-j )?list ruleset|ip6?tables-save( -c)?|"
        r"ip( -[46jo])* (route|address|addr|link)( show)?( default)?|ss( -[A-Za-z]+)*|"
        r"cat /proc/uptime|uptime)"
    ),
}
# Output that means the command itself failed (not a rule base that is empty).
_FAILED = re.compile(
    r"(?im)^(?:%\s*invalid input|error: %|unknown action|command parse error|"
    r"syntax error|unknown command|bad command name|expected end of command|"
    r".*operation not permitted|.*permission denied|"
    r"sudo: a password is required|sudo: .*not allowed).*"
)
# A tool the host does not have (iptables-save on an nftables-only router): its part of the
# text is empty, which is what that host's rule base holds. Not a failed read.
_ABSENT = re.compile(r"(?im)^(?:-?\w*sh: )?(?:\S+: )?(?:command not found|.*: command not found)$")
# Where a command needs root (nft needs CAP_NET_ADMIN even to list) and the account has a
# sudo rule for exactly that command: retried once through `sudo -n` (never a password).
# A Linux review needs a root login or such a rule (docs/review.md).
_PRIVILEGED_RETRY = {"linux": "sudo -n "}
_NEEDS_ROOT = re.compile(r"(?i)operation not permitted|permission denied")


@dataclass
class Collected:
    """What one device printed for a review."""

    platform: str
    config: str = ""  # the CONFIG_COMMANDS outputs joined by '\n': what parse() reads
    counters: str = ""  # the COUNTER_COMMANDS outputs joined by '\n'
    commands: list[str] = field(default_factory=list)  # every command sent, in order
    absent: list[str] = field(default_factory=list)  # commands the host does not have
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.config) and not self.errors


def is_read_only(platform: str, command: str) -> bool:
    grammar = READ_ONLY.get(platform)
    return grammar is not None and grammar.fullmatch(command) is not None


def check_read_only(platform: str, commands: tuple[str, ...] | list[str]) -> None:
    """UsageError unless every command is a display command of ``platform``."""
    for command in commands:
        if not is_read_only(platform, command):
            raise UsageError(f"{platform}: refusing to send {command!r}: not a read-only command")


def collect(
    platform: str,
    send: Callable[[str], str],
    commands: tuple[tuple[str, ...], tuple[str, ...]] | None = None,
) -> Collected:
    """The platform parser's commands in turn (``commands``: its CONFIG_COMMANDS and
    COUNTER_COMMANDS unless given); a config command that fails is an error of the
    collection (the config text without it would be a different rule base)."""
    if commands is None:
        from agent.review.platforms import parser_for

        parser = parser_for(platform)
        commands = (tuple(parser.CONFIG_COMMANDS), tuple(parser.COUNTER_COMMANDS))
    configs, counters = commands
    check_read_only(platform, configs + counters)
    result = Collected(platform)
    outputs: list[str] = []
    for command in configs:
        output = _run(platform, command, send, result)
        if output is not None:
            outputs.append(output)
    result.config = "\n".join(outputs) if len(outputs) == len(configs) else ""
    counter_outputs = [
        _run(platform, command, send, result, required=False) for command in counters
    ]
    result.counters = "\n".join(o for o in counter_outputs if o is not None)
    return result


def _run(
    platform: str,
    command: str,
    send: Callable[[str], str],
    result: Collected,
    required: bool = True,
) -> str | None:
    try:
        output = _send(platform, command, send, result)
    except Exception as exc:  # one command's failure is a recorded error, not a crash
        first = scrub(str(exc)).splitlines()[0][:160] if str(exc) else type(exc).__name__
        result.errors.append(f"{command}: {first}")
        return None
    if _ABSENT.search(output[:400]):
        result.absent.append(command)
        return ""
    failed = _FAILED.search(output[:400])
    if failed:
        if required:
            result.errors.append(f"{command}: {failed.group(0).strip()[:160]}")
        return None
    return output


def _send(platform: str, command: str, send: Callable[[str], str], result: Collected) -> str:
    result.commands.append(command)
    output = send(command)
    prefix = _PRIVILEGED_RETRY.get(platform)
    # Refused for want of root, or not on this account's PATH (Debian keeps /usr/sbin, where
    # nft and iptables-save live, off a normal user's PATH; sudo's secure_path has it).
    if prefix and (_NEEDS_ROOT.search(output[:400]) or _ABSENT.search(output[:400])):
        privileged = prefix + command
        check_read_only(platform, [privileged])
        result.commands.append(privileged)
        output = send(privileged)
    return output
