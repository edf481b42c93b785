"""What the simulated firewalls print from their rule base (lab/data/review/<platform>.conf):
the scoped `show` views of FortiOS and ASA, Junos's tree, RouterOS's export sections, and the
hit-counter tables, in each vendor's own layout.

Pure text functions: the personalities in ``platforms/`` wire them to commands. The rule base
is held as the device prints it; a view is a slice of that text, never a re-rendering of a
model, so what a review reads is byte for byte what the file holds.
"""

from __future__ import annotations

import json
from pathlib import Path

# Hit counters are simulated, with the device's uptime as their baseline (counters.json).
COUNTERS_FILE = "counters.json"
UPTIME_SECONDS = 84 * 86400 + 3 * 3600 + 12 * 60


def counters(rulebase_source: str | None, platform: str) -> dict[str, int]:
    """The platform's simulated hit counters, from counters.json beside the rule base file."""
    if not rulebase_source:
        return {}
    path = Path(rulebase_source).with_name(COUNTERS_FILE)
    if not path.exists():
        return {}
    return {str(k): int(v) for k, v in json.loads(path.read_text()).get(platform, {}).items()}


# --- FortiOS --------------------------------------------------------------------------------
def fortios_sections(text: str) -> list[tuple[str, list[str]]]:
    """Top-level `config PATH` ... `end` blocks, in order."""
    sections: list[tuple[str, list[str]]] = []
    current: tuple[str, list[str]] | None = None
    for line in text.splitlines():
        if current is None:
            if line.startswith("config "):
                current = (line[len("config ") :].strip(), [line])
            continue
        current[1].append(line)
        if line == "end":
            sections.append(current)
            current = None
    return sections


def fortios_full(text: str, admin_block: str) -> str:
    """The whole configuration, with the admin accounts (kept in the device state, where
    password rotation changes them) after `config system interface`, where FortiOS has them."""
    out: list[str] = []
    for path, lines in fortios_sections(text):
        out.extend(lines)
        if path == "system interface":
            out.extend(admin_block.splitlines())
    return "\n".join(out)


def fortios_show(text: str, words: list[str]) -> str | None:
    """`show PATH [ENTRY]`: the table, one entry of it, or None for a path FortiOS lacks."""
    sections = fortios_sections(text)
    for size in range(len(words), 0, -1):
        path = " ".join(words[:size])
        match = next((lines for p, lines in sections if p == path), None)
        if match is None:
            continue
        rest = words[size:]
        if not rest:
            return "\n".join(match)
        if len(rest) != 1:
            return None
        return "\n".join([match[0], *_fortios_entry(match, rest[0].strip('"')), "end"])
    prefix = " ".join(words)
    blocks = ["\n".join(lines) for p, lines in sections if p.startswith(prefix + " ")]
    return "\n".join(blocks) if blocks else None


def _fortios_entry(lines: list[str], name: str) -> list[str]:
    out: list[str] = []
    inside = False
    for line in lines[1:-1]:
        if line.strip() in (f'edit "{name}"', f"edit {name}") and line.startswith("    edit"):
            inside = True
        if inside:
            out.append(line)
            if line == "    next":
                break
    return out


def fortios_policy_ids(text: str) -> list[str]:
    lines = next((lines for p, lines in fortios_sections(text) if p == "firewall policy"), [])
    return [line.split()[1] for line in lines if line.startswith("    edit ")]


def fortios_iprope(text: str, hits: dict[str, int], policy: str | None) -> str:
    """`diagnose firewall iprope show 100004 [ID]`: a policy's packet and hit counters."""
    ids = [policy] if policy else fortios_policy_ids(text)
    blocks = []
    for pid in ids:
        if pid not in fortios_policy_ids(text):
            continue
        count = hits.get(pid, 0)
        first, last = ("2026-09-07 06:51:12", "2026-11-30 09:41:07") if count else ("", "")
        blocks.append(
            f"idx={pid} pkts/bytes={count * 11}/{count * 7412} asic_pkts/asic_bytes=0/0 "
            f"nturbo_pkts/nturbo_bytes=0/0 flag=0x0 hit count:{count} ({count and 1} 0)\n"
            f"\tfirst:{first} last:{last}\n\testablished session count:0\n"
            f"\tfirst est:{first} last est:{last}"
        )
    return "\n".join(blocks)


def fortios_iprope_list(text: str, hits: dict[str, int]) -> str:
    """`diagnose firewall iprope list 100004`: each forward policy's entry in the kernel's
    policy list, its hit count and the first and last hit (the address, service and NAT
    lines of a real entry are not simulated)."""
    lines = next((lines for p, lines in fortios_sections(text) if p == "firewall policy"), [])
    actions: dict[str, str] = {}
    current = ""
    for line in lines:
        words = line.split()
        if line.startswith("    edit "):
            current = words[1]
            actions[current] = "deny"  # FortiOS leaves the default out
        elif words[:2] == ["set", "action"] and current:
            actions[current] = "accept" if words[2] == "accept" else "deny"
        elif words[:3] == ["set", "status", "disable"] and current:
            actions.pop(current)  # a disabled policy is not in the kernel's list
            current = ""
    out = []
    for number, (pid, action) in enumerate(actions.items(), start=1):
        count = hits.get(pid, 0)
        first, last = ("2026-09-07 06:51:12", "2026-11-30 09:41:07") if count else ("", "")
        out += [
            f"policy index={pid} uuid_idx={40 + number} action={action}",
            "flag (8050108): redir master use_src pol_stats",
            "schedule(always)",
            "cos_fwd=255  cos_rev=255",
            "group=00100004 av=00004e20 au=00000000 split=00000000",
            "host=0 chk_client_info=0x0 app_list=0 ips_view=0",
            f"packets/bytes={count * 11}/{count * 7412} asic_packets/asic_bytes=0/0",
            f"hit count:{count} ({count and 1} 0)",
            f"first hit:{first} last hit:{last}",
            "established session count:0",
            f"first est:{first} last est:{last}",
            "",
        ]
    return "\n".join(out)


FORTIOS_PERFORMANCE = """CPU states: 1% user 0% system 0% nice 99% idle 0% iowait 0% irq 0% softirq
CPU0 states: 1% user 0% system 0% nice 99% idle 0% iowait 0% irq 0% softirq
Memory: 2055760k total, 1010260k used (49.1%), 871800k free (42.4%), 173700k freeable (8.5%)
Average network usage: 212 / 148 kbps in 1 minute, 198 / 141 kbps in 10 minutes
Average sessions: 58 sessions in 1 minute, 61 sessions in 10 minutes, 57 sessions in 30 minutes
Average session setup rate: 0 sessions per second in last 1 minute
Virus caught: 0 total in 1 minute
IPS attacks blocked: 0 total in 1 minute
Uptime: 84 days,  3 hours,  12 minutes"""


# --- Cisco ASA ---------------------------------------------------------------------------------
def asa_blocks(text: str) -> list[list[str]]:
    """Top-level commands with their indented sub-commands."""
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith(" ") and blocks:
            blocks[-1].append(line)
        else:
            blocks.append([line])
    return blocks


def asa_running(text: str, words: list[str]) -> str:
    """`show running-config [KEYWORD...]`: the commands that start with the keywords (an
    object's NAT statements belong to `nat`, not to `object`)."""
    if not words:
        return text
    wanted = [w.lower() for w in words]
    out: list[str] = []
    for block in asa_blocks(text):
        head = block[0].split()
        if wanted == ["nat"] and head[:1] == ["object"]:
            nat = [line for line in block[1:] if line.startswith(" nat ")]
            out.extend([block[0], *nat] if nat else [])
            continue
        if [h.lower() for h in head[: len(wanted)]] != wanted:
            continue
        body = block[1:]
        if wanted[0] == "object" and len(wanted) == 1:
            body = [line for line in body if not line.startswith(" nat ")]
            if not body:
                continue  # the second block of an object holds only its NAT
        out.extend([block[0], *body])
    return "\n".join(out)


def _asa_objects(text: str) -> dict[str, list[str]]:
    """Object and object-group name -> what `show access-list` expands it to."""
    objects: dict[str, list[str]] = {}
    for block in asa_blocks(text):
        head = block[0].split()
        if head[:2] == ["object", "network"] and len(block) > 1:
            kind, *rest = block[1].split()
            if kind == "host":
                objects[head[2]] = [f"host {rest[0]}"]
            elif kind == "subnet":
                objects[head[2]] = [" ".join(rest)]
            elif kind == "range":
                objects[head[2]] = [f"range {' '.join(rest)}"]
        elif head[:2] == ["object-group", "network"]:
            members = []
            for line in block[1:]:
                words = line.split()
                if words[:2] == ["network-object", "host"]:
                    members.append(f"host {words[2]}")
                elif words[:2] == ["network-object", "object"]:
                    members.extend(objects.get(words[2], []))
                elif words[:1] == ["network-object"]:
                    members.append(" ".join(words[1:]))
            objects[head[2]] = members
        elif head[:2] == ["object-group", "service"]:
            services = []
            for line in block[1:]:
                words = line.split()
                if words[:1] == ["service-object"]:
                    proto, rest = words[1], [w for w in words[2:] if w != "destination"]
                    services.append(f"{proto} |{' '.join(rest)}")
            objects[head[2]] = services
    return objects


def asa_access_lists(text: str, hits: dict[str, int], only: str | None) -> str:
    """`show access-list [NAME]`: every ACE numbered (remarks count), with its hit count and
    the expansion of its objects indented below, as ASA 9.x prints them."""
    objects = _asa_objects(text)
    lines: dict[str, list[str]] = {}
    for block in asa_blocks(text):
        words = block[0].split()
        if words[:1] == ["access-list"] and len(words) > 2:
            lines.setdefault(words[1], []).append(block[0])
    out = [
        "access-list cached ACL log flows: total 0, denied 0 (deny-flow-max 4096)",
        "            alert-interval 300",
    ]
    for name, entries in lines.items():
        if only and name != only:
            continue
        aces = sum(1 for e in entries if " remark " not in e)
        out.append(f"access-list {name}; {aces} elements; name hash: 0x{_hash(name)}")
        for number, entry in enumerate(entries, start=1):
            body = entry.split(None, 2)[2]
            if body.startswith("remark "):
                out.append(f"access-list {name} line {number} {body}")
                continue
            count = hits.get(f"{name} {number}", 0)
            inactive = body.endswith(" inactive")
            body = body.removesuffix(" inactive")
            logged = body.replace(" log", " log informational interval 300", 1)
            tail = f"(hitcnt={count}){' (inactive)' if inactive else ''} 0x{_hash(entry)}"
            out.append(f"access-list {name} line {number} {logged} {tail}")
            expanded = _asa_expand(logged, objects)
            if expanded != [logged]:
                for item in expanded:
                    share = count if len(expanded) == 1 else count // len(expanded)
                    out.append(
                        f"  access-list {name} line {number} {item} (hitcnt={share}) "
                        f"0x{_hash(item)}"
                    )
    return "\n".join(out)


def _asa_expand(body: str, objects: dict[str, list[str]]) -> list[str]:
    """An ACE with its objects replaced by what they hold: one line per combination; a
    service group in the protocol position gives the protocol there and its port after
    the destination."""
    words = body.split()
    log_at = words.index("log") if "log" in words else len(words)
    head, tail = words[:log_at], words[log_at:]
    variants: list[tuple[list[str], str]] = [([], "")]
    i = 0
    while i < len(head):
        word = head[i]
        if word in ("object", "object-group") and i + 1 < len(head):
            members = objects.get(head[i + 1], [head[i + 1]])
            if members and "|" in members[0]:
                pairs = [m.split("|", 1) for m in members]
                variants = [([*v, p.strip()], port) for v, _ in variants for p, port in pairs]
            else:
                variants = [([*v, m], port) for v, port in variants for m in members]
            i += 2
            continue
        variants = [([*v, word], port) for v, port in variants]
        i += 1
    return [" ".join([*v, *([port] if port else []), *tail]) for v, port in variants]


def _hash(text: str) -> str:
    import zlib

    return f"{zlib.crc32(text.encode()):08x}"


# --- Junos ---------------------------------------------------------------------------------------
Node = dict[str, "Node | None"]


def junos_tree(text: str) -> tuple[list[str], Node]:
    """The `## ...` header lines and the hierarchy of ``show configuration`` text."""
    header: list[str] = []
    root: Node = {}
    stack: list[Node] = [root]
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("##") and len(stack) == 1:
            header.append(line)
        elif line.endswith("{"):
            child: Node = {}
            stack[-1][line[:-1].strip()] = child
            stack.append(child)
        elif line == "}":
            stack.pop()
        else:
            stack[-1][line.split(";", 1)[0].strip()] = None
    return header, root


def junos_find(node: Node | None, path: list[str]) -> Node | None:
    """The subtree at ``path``; a key may span words ("from-zone trust to-zone dmz")."""
    i = 0
    while i < len(path):
        if not isinstance(node, dict):
            return None
        for size in range(min(4, len(path) - i), 0, -1):
            key = " ".join(path[i : i + size])
            if key in node:
                node, i = node[key], i + size
                break
        else:
            return None
    return node


# --- RouterOS ------------------------------------------------------------------------------------
def routeros_sections(text: str) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The `#` header and the `/path` sections of an export, lines as printed (with their
    backslash continuations)."""
    header: list[str] = []
    sections: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("/"):
            sections.append((line, []))
        elif sections:
            sections[-1][1].append(line)
        else:
            header.append(line)
    return header, sections


def routeros_export(text: str, path: list[str], terse: bool, hostname: str) -> str:
    """`[/PATH] /export [terse]`: the sections under PATH, the identity being the device's."""
    header, sections = routeros_sections(text)
    prefix = "/" + " ".join(path)
    out = list(header)
    for name, lines in sections:
        if path and name != prefix and not name.startswith(prefix + " "):
            continue
        if name == "/system identity":
            lines = [f"set name={hostname}"]
        if terse:
            out.extend(f"{name} {command}" for command in routeros_commands(lines))
        else:
            out.append(name)
            out.extend(lines)
    return "\n".join(out)


def routeros_commands(lines: list[str]) -> list[str]:
    """Continuation lines joined back into one command each."""
    commands: list[str] = []
    pending = ""
    for line in lines:
        if pending:
            line = pending + line.lstrip()
        if line.endswith("\\"):
            pending = line[:-1]
            continue
        pending = ""
        commands.append(line)
    return commands


def routeros_params(command: str) -> dict[str, str]:
    """key=value pairs of one export command ("quoted values" kept whole)."""
    import shlex

    params: dict[str, str] = {}
    for token in shlex.split(command)[1:]:
        key, eq, value = token.partition("=")
        if eq:
            params[key] = value
    return params


def routeros_rules(text: str, path: str) -> list[dict[str, str]]:
    _header, sections = routeros_sections(text)
    lines = next((lines for name, lines in sections if name == path), [])
    return [routeros_params(c) for c in routeros_commands(lines) if c.startswith("add ")]


def routeros_stats(text: str, path: str, hits: dict[str, int]) -> str:
    """`/ip firewall filter print stats`: RouterOS 7's table (comments on their own line)."""
    out = [
        "Flags: X - disabled, I - invalid; D - dynamic",
        " #    CHAIN                  ACTION                  BYTES         PACKETS",
    ]
    offset = 0 if path.endswith("filter") else 1000  # nat rules count on their own
    for number, rule in enumerate(routeros_rules(text, path)):
        packets = hits.get(str(number + offset), 0) if path.endswith("filter") else 0
        flag = "X" if rule.get("disabled") == "yes" else " "
        if "comment" in rule:
            out.append(f"{number:>2}  {flag} ;;; {rule['comment']}")
            flag = " "
            lead = "      "
        else:
            lead = f"{number:>2}  {flag} "
        out.append(
            f"{lead}{rule.get('chain', ''):<22} {rule.get('action', ''):<18}"
            f"{_grouped(packets * 640):>14}{_grouped(packets):>16}"
        )
    return "\n".join(out)


def _grouped(number: int) -> str:
    return f"{number:,}".replace(",", " ")


ROUTEROS_SERVICES = [
    ("telnet", 23, ""),
    ("ftp", 21, ""),
    ("www", 80, ""),
    ("ssh", 22, ""),
    ("www-ssl", 443, "X"),
    ("api", 8728, ""),
    ("winbox", 8291, ""),
    ("api-ssl", 8729, ""),
]


def routeros_services(text: str) -> str:
    """`/ip service print`: RouterOS's defaults with the export's `set` lines applied."""
    _header, sections = routeros_sections(text)
    lines = next((lines for name, lines in sections if name == "/ip service"), [])
    changed = {}
    for command in routeros_commands(lines):
        words = command.split()
        if words[:1] == ["set"] and len(words) > 1:
            changed[words[1]] = routeros_params("set " + " ".join(words[2:]))
    out = [
        "Flags: X - DISABLED, I - INVALID",
        "Columns: NAME, PORT, ADDRESS, CERTIFICATE, TLS-VERSION",
        "#   NAME     PORT  ADDRESS          CERTIFICATE  TLS-VERSION",
    ]
    for number, (name, port, default_flag) in enumerate(ROUTEROS_SERVICES):
        params = changed.get(name, {})
        flag = "X" if params.get("disabled", "no" if not default_flag else "yes") == "yes" else " "
        port = int(params.get("port", port))
        address = params.get("address", "")
        tls = "none         any" if name in ("www-ssl", "api-ssl") else ""
        out.append(f"{number:<2}{flag} {name:<8}{port:>5}  {address:<16} {tls}".rstrip())
    return "\n".join(out)
