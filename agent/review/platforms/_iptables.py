"""``iptables-save [-c]`` text -> chains of Matches, chain policies and DNAT rules."""

from __future__ import annotations

import re
import shlex

from agent.review.model import PORT_ANY, AddressSet, Range, Service, merge
from agent.review.platforms._common import (
    Reader,
    complement_ports,
    ip_range,
    protocol_name,
    redact_line,
)
from agent.review.platforms._netfilter import Match

_CHAIN = re.compile(r"^:(\S+) (\S+)(?: \[(\d+):(\d+)\])?$")
_COUNTERS = re.compile(r"^\[(\d+):(\d+)\] ")
# Options that only annotate or count, and those that narrow the match (conditions).
_QUIET = {
    "-m",
    "--comment",
    "--log-prefix",
    "--log-level",
    "--reject-with",
    "--to-destination",
    "--to-ports",
    "--to-source",
    "-c",
    "--log-uid",
    "--set-mark",
}


class Tables:
    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.chains: dict[str, list[Match]] = {}
        self.policies: dict[str, str] = {}  # 'filter INPUT' -> 'DROP'
        self.dnat: list[tuple[Match, str]] = []
        self.present: set[str] = set()  # tables seen: filter, nat...


def load(reader: Reader, lines: list[str]) -> Tables | None:
    tables = Tables(reader)
    table = ""
    count = 0
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if text.startswith("*") and len(text) > 1:
            table = text[1:]
            tables.present.add(table)
            continue
        if not table or not text or text.startswith("#"):
            continue
        if text == "COMMIT":
            table = ""
            continue
        chain = _CHAIN.match(text)
        if chain:
            tables.chains.setdefault(f"{table} {chain.group(1)}", [])
            if chain.group(2) != "-":
                tables.policies[f"{table} {chain.group(1)}"] = chain.group(2)
            continue
        counters = _COUNTERS.match(text)
        hits = int(counters.group(1)) if counters else None
        body = text[counters.end() :] if counters else text
        if not body.startswith("-A "):
            reader.warn(f"iptables-save line {number} not understood", text)
            continue
        count += 1
        try:
            match = _rule(shlex.split(body))
        except (ValueError, IndexError) as exc:
            reader.warn(f"iptables rule not understood ({exc}); left out", text)
            continue
        match.hits, match.text = hits, redact_line(body)
        key = f"{table} {match.rule_id}"
        match.rule_id = f"{table} {match.rule_id} {len(tables.chains.get(key, [])) + 1}"
        if match.target and match.verdict == "jump":
            match.target = f"{table} {match.target}"
        tables.chains.setdefault(key, []).append(match)
        if table == "nat" and match.verdict == "dnat":
            tables.dnat.append((match, match.comment))
    return tables if tables.present else None


def _rule(words: list[str]) -> Match:
    match = Match()
    match.rule_id = words[1]  # the chain; the caller numbers the rule within it
    negate = False
    protocol = ""
    ports: tuple[Range, ...] | None = None
    i = 2
    while i < len(words):
        word = words[i]
        value = words[i + 1] if i + 1 < len(words) else ""
        if word == "!":
            negate, i = True, i + 1
            continue
        if word in ("-s", "--source", "-d", "--destination"):
            ranges = merge([ip_range(v) for v in value.split(",")])
            target = AddressSet(ranges, negate, (("!" if negate else "") + value,))
            if word.startswith(("-s", "--s")):
                match.sources = target
            else:
                match.destinations = target
        elif word in ("--src-range", "--dst-range"):
            target = AddressSet((ip_range(value),), negate, (value,))
            if word == "--src-range":
                match.sources = target
            else:
                match.destinations = target
        elif word in ("-p", "--protocol"):
            if negate:
                match.conditions.append(f"! -p {value}")
            else:
                protocol = protocol_name(value)
        elif word in ("--dport", "--destination-port", "--dports", "--destination-ports"):
            spans = []
            for part in value.split(","):
                lo, _, hi = part.partition(":")
                spans.append((int(lo or 0), int(hi or lo) if hi or lo else 65535))
            ports = complement_ports(tuple(spans)) if negate else merge(spans)
        elif word in ("-i", "--in-interface", "-o", "--out-interface"):
            if negate or value.endswith("+"):
                match.conditions.append(f"{'! ' if negate else ''}{word} {value}")
            elif word.startswith(("-i", "--in")):
                match.src_zones = (value,)
            else:
                match.dst_zones = (value,)
        elif word == "--comment":
            match.comment = value
        elif word in ("-j", "-g", "--jump", "--goto"):
            verdict = value.upper()
            if verdict in ("ACCEPT", "DROP", "REJECT", "RETURN"):
                match.verdict = verdict.lower()
            elif verdict == "DNAT":
                match.verdict = "dnat"
                match.target = (
                    words[words.index("--to-destination") + 1]
                    if "--to-destination" in words
                    else ""
                )
            elif verdict in (
                "LOG",
                "NFLOG",
                "MARK",
                "CONNMARK",
                "MASQUERADE",
                "SNAT",
                "CT",
                "TCPMSS",
                "NOTRACK",
            ):
                match.verdict = ""
                match.log = verdict in ("LOG", "NFLOG")
            else:
                match.verdict = "goto" if word in ("-g", "--goto") else "jump"
                match.target = value
            i += 2
            # Target options (--reject-with, --log-prefix...) follow and are skipped below.
            continue
        elif word.startswith("-") and word not in _QUIET and word not in ("-A",):
            # --ctstate, --state, --match-set, --limit, --sport, --dst-type ...: conditions
            argument = f" {value}" if value and not value.startswith("-") else ""
            match.conditions.append(f"{'! ' if negate else ''}{word}{argument}")
        negate = False
        i += 1 if not value or value.startswith("-") or word in ("!",) else 2
    if protocol or ports is not None:
        match.services = (
            Service(
                protocol or "any",
                ports if ports is not None and protocol in ("tcp", "udp") else PORT_ANY,
                protocol,
            ),
        )
    return match
