"""``nft list ruleset`` / ``/etc/nftables.conf`` text -> the libnftables JSON document shape,
so a backup in nft's own syntax is read by the same code as ``nft -j`` output (``_nft``).

Covered: tables, base and regular chains (type/hook/priority/policy), named sets with their
elements, ``define`` variables, and in rules the matches the JSON reader understands (ip
saddr/daddr/protocol, tcp/udp dport/sport, meta l4proto/nfproto, iifname/oifname, ct
state/status) with ``!=``, sets, ranges and prefixes, then counters, log, comment, verdicts
and dnat. Any other statement is kept as an opaque expression: the JSON reader turns it into
a condition, so the rule is never read broader... nor narrower than the model can say.
"""

from __future__ import annotations

import re

from agent.review.platforms._common import CISCO_PORTS, Reader

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\{|\}|;|[^\s{};]+')
_PRIORITIES = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50,
               "srcnat": 100}  # fmt: skip
_PAYLOAD = {"ip": ("saddr", "daddr", "protocol"), "ip6": ("saddr", "daddr", "nexthdr"),
            "tcp": ("dport", "sport"), "udp": ("dport", "sport")}  # fmt: skip
_META = {"iifname", "oifname", "iif", "oif", "l4proto", "nfproto"}
_VERDICTS = {"accept", "drop", "reject", "return", "continue", "queue"}
_MAX_ELEMENTS_CHARS = 4 * 1024 * 1024
_LOG_OPTIONS = {"prefix", "level", "group", "snaplen", "queue-threshold", "flags"}


def _value(token: str):
    """One element: a port number, an address/prefix/range string, a name."""
    if token.startswith('"') and token.endswith('"'):
        return token[1:-1]
    lo, dash, hi = token.partition("-")
    if dash and lo.isdigit() and hi.isdigit():
        return {"range": [int(lo), int(hi)]}
    if token.isdigit():
        return int(token)
    return token


def _port(value):
    if isinstance(value, str) and value.lower() in CISCO_PORTS:
        return CISCO_PORTS[value.lower()]
    return value


class _Rule:
    def __init__(self, words: list[str], defines: dict[str, list[str]]) -> None:
        self.words = [w for word in words for w in defines.get(word, [word])]
        self.i = 0

    def take(self) -> str:
        self.i += 1
        return self.words[self.i - 1] if self.i <= len(self.words) else ""

    def peek(self) -> str:
        return self.words[self.i] if self.i < len(self.words) else ""

    def operand(self):
        """`!= X`, `{ a, b }`, `@set` or one value; the operator and the JSON right side."""
        op = "=="
        if self.peek() in ("!=", "==", "eq", "ne"):
            op = "!=" if self.take() in ("!=", "ne") else "=="
        if self.peek() == "{":
            self.take()
            items = []
            while self.peek() and self.peek() != "}":
                items.extend(_value(v) for v in self.take().split(",") if v)
            self.take()
            return op, {"set": items}
        token = self.take()
        if "," in token:  # ct state established,related
            return op, [_value(v) for v in token.split(",") if v]
        return op, _value(token)

    def expressions(self) -> list:
        out: list = []
        while self.peek():
            word = self.take()
            if word in _PAYLOAD and self.peek() in _PAYLOAD[word]:
                field = self.take()
                op, right = self.operand()
                if field in ("dport", "sport"):
                    right = (
                        {"set": [_port(v) for v in right["set"]]}
                        if isinstance(right, dict) and "set" in right
                        else _port(right)
                    )
                left = {"payload": {"protocol": word, "field": field}}
                out.append({"match": {"op": op, "left": left, "right": right}})
            elif (word == "meta" and self.peek() in _META) or word in (
                "iifname",
                "oifname",
                "iif",
                "oif",
            ):
                key = self.take() if word == "meta" else word
                op, right = self.operand()
                out.append({"match": {"op": op, "left": {"meta": {"key": key}}, "right": right}})
            elif word == "ct" and self.peek() in ("state", "status"):
                key = self.take()
                op, right = self.operand()
                out.append(
                    {
                        "match": {
                            "op": "in" if op == "==" else op,
                            "left": {"ct": {"key": key}},
                            "right": right,
                        }
                    }
                )
            elif word == "counter":
                counts = {}
                while self.peek() in ("packets", "bytes"):
                    key, value = self.take(), self.take()
                    counts[key] = int(value) if value.isdigit() else 0
                out.append({"counter": counts})
            elif word == "log":
                options = {}
                while self.peek() in _LOG_OPTIONS:
                    key = self.take()
                    options[key] = self.take().strip('"')
                out.append({"log": options})
            elif word == "comment":
                self.take()
            elif word in _VERDICTS:
                out.append({word: None})
                if word == "reject" and self.peek() == "with":
                    self.take(), self.take(), self.take()  # with tcp reset / icmp type x
            elif word in ("jump", "goto"):
                out.append({word: {"target": self.take()}})
            elif word == "dnat":
                if self.peek() in ("ip", "ip6"):
                    self.take()
                self.take()  # to
                target = self.take()
                address, _, port = (
                    target.rpartition(":") if target.count(":") == 1 else (target, "", "")
                )
                dnat = {"addr": address}
                if port.isdigit():
                    dnat["port"] = int(port)
                out.append({"dnat": dnat})
            elif word in ("masquerade", "snat", "notrack"):
                out.append({word: {}})
                while self.peek() and self.peek() not in _VERDICTS:
                    self.take()
            else:
                out.append({"statement": word})  # opaque: the JSON reader makes it a condition
        return out


class _Text:
    """The block structure: which table, chain or set the next line belongs to."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.defines: dict[str, list[str]] = {}
        self.items: list[dict] = []
        self.stack: list[str] = []  # 'table', then 'chain' / 'set' / 'map'
        self.family = self.table = self.chain = ""
        self.handle = 0
        self.found = False

    def line(self, words: list[str], text: str, number: int) -> None:
        first, stack = words[0], self.stack
        if first == "define" and len(words) >= 4 and words[2] == "=":
            self.defines[f"${words[1]}"] = words[3:]
        elif first == "table" and words[-1] == "{" and len(words) >= 3:
            self.family, self.table = (words[1], words[2]) if len(words) == 4 else ("ip", words[1])
            self.items.append({"table": {"family": self.family, "name": self.table}})
            self.stack, self.found = ["table"], True
        elif first in ("chain", "set", "map") and words[-1] == "{" and stack == ["table"]:
            self.chain = words[1]
            stack.append(first)
            where = {"family": self.family, "table": self.table, "name": self.chain}
            if first == "chain":
                self.items.append({"chain": where})
            elif first == "set":
                self.items.append({"set": {**where, "elem": []}})
        elif first == "}":
            if stack:
                stack.pop()
        elif stack == ["table", "chain"] and first == "type" and "hook" in words:
            body = self.items[-1]["chain"]
            body["type"], body["hook"] = words[1], words[words.index("hook") + 1]
            if "priority" in words:
                prio = words[words.index("priority") + 1].rstrip(";")
                body["prio"] = int(prio) if prio.lstrip("-").isdigit() else _PRIORITIES.get(prio, 0)
            if "policy" in words:
                body["policy"] = words[words.index("policy") + 1].rstrip(";")
        elif stack == ["table", "set"] and first == "elements":
            elements = " ".join(words[words.index("=") + 1 :]).strip("{} ")
            self.items[-1]["set"]["elem"] = [
                _value(e.strip()) for e in elements.split(",") if e.strip()
            ]
        elif stack == ["table", "chain"]:
            self.handle += 1
            expressions = _Rule([w for w in words if w != ";"], self.defines).expressions()
            rule = {"family": self.family, "table": self.table, "chain": self.chain,
                    "handle": self.handle, "expr": expressions}  # fmt: skip
            comment = re.search(r'\bcomment\s+"((?:[^"\\]|\\.)*)"', text)
            if comment:
                rule["comment"] = comment.group(1)
            self.items.append({"rule": rule})
        elif stack and first not in ("type", "flags", "policy", "size", "timeout", "auto-merge"):
            self.reader.warn(f"nft line {number} not understood", text)


def document(reader: Reader, lines: list[str]) -> dict | None:
    """The JSON-shaped ruleset of nft text, or None when the text holds no `table` block."""
    state = _Text(reader)
    pending = ""  # a set's elements may wrap over several lines
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#!") else ""
        if len(pending) > _MAX_ELEMENTS_CHARS:
            reader.warn(f"nft line {number}: a set's elements never close; ignored")
            pending = ""
        if pending:
            pending, text = (
                ("", pending + " " + text) if "}" in text else (pending + " " + text, "")
            )
        elif text.startswith("elements") and "{" in text and "}" not in text:
            pending, text = text, ""
        if not text:
            continue
        try:
            state.line(_TOKEN.findall(text), text, number)
        except (ValueError, KeyError, IndexError) as exc:
            reader.warn(f"nft line {number} not understood ({type(exc).__name__})", text)
    return {"nftables": state.items} if state.found else None
