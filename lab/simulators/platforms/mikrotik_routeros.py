"""MikroTik RouterOS 7: `/user set`, `/password`; every change is saved immediately."""

from __future__ import annotations

import re

from lab.simulators import rulebase
from lab.simulators.shell import CommandTable, Disconnect, Shell
from lab.simulators.state import User, hash_password, password_matches

BANNER = """

  MMM      MMM       KKK                          TTTTTTTTTTT      KKK
  MMMM    MMMM       KKK                          TTTTTTTTTTT      KKK
  MMM MMMM MMM  III  KKK  KKK  RRRRRR     OOOOOO      TTT     III  KKK  KKK
  MMM  MM  MMM  III  KKKKK     RRR  RRR  OOO  OOO     TTT     III  KKKKK
  MMM      MMM  III  KKK KKK   RRRRRR    OOO  OOO     TTT     III  KKK KKK
  MMM      MMM  III  KKK  KKK  RRR  RRR   OOOOOO      TTT     III  KKK  KKK

  MikroTik RouterOS 7.12.1 (c) 1999-2023       https://www.mikrotik.com/

Press F1 for help

"""


# Menus whose own export the simulator answers (`/ip firewall filter export`, ...).
EXPORT_MENUS = (
    "ip firewall filter",
    "ip firewall nat",
    "ip firewall address-list",
    "ip firewall",
    "ip service",
    "ip ipsec",
    "ip address",
    "ip route",
    "interface",
    "interface list",
    "ppp secret",
    "ppp",
)


class MikrotikShell(Shell):
    platform = "mikrotik_routeros"
    default_role = "full"
    pipe_commands = ()
    reject_text = "failure: password does not meet the password complexity requirements"
    save_fail_text = "failure: could not save configuration (storage error)"

    @classmethod
    def login_name(cls, ssh_username: str) -> str:
        # netmiko logs in as "admin+ct511w4098h": terminal options after the '+'.
        return ssh_username.split("+", 1)[0]

    def banner(self) -> str:
        return BANNER

    def prompt(self) -> str:
        return f"[{self.username}@{self.hostname}] > "

    def invalid(self, line: str, word_index: int) -> str:
        word = line.split()[0] if line.split() else line
        return f"bad command name {word.lstrip('/')} (line 1 column 1)"

    def tokenize(self, line: str) -> list[str]:
        tokens = _tokens(line)
        if tokens and tokens[0].startswith("/"):
            tokens = [part for part in tokens[0].split("/") if part] + tokens[1:]
        return tokens

    def commands(self) -> CommandTable:
        return [
            (("user", "print"), "cmd_user_print"),
            (("user", "set"), "cmd_user_set"),
            (("user", "add"), "cmd_user_add"),
            (("user", "remove"), "cmd_user_remove"),
            (("password",), "cmd_password"),
            (("system", "identity", "print"), "cmd_identity_print"),
            (("system", "identity", "set"), "cmd_identity_set"),
            (("system", "resource", "print"), "cmd_resource_print"),
            (("export",), "cmd_export"),
            (("ip", "firewall", "filter", "print"), "cmd_filter_print"),
            (("ip", "firewall", "nat", "print"), "cmd_nat_print"),
            (("ip", "service", "print"), "cmd_service_print"),
            # `/PATH export`: the export of one menu and what is under it.
            *[((*tuple(path.split()), "export"), "cmd_export") for path in EXPORT_MENUS],
            (("quit",), "cmd_quit"),
        ]

    async def cmd_quit(self, args: list[str]) -> str:
        raise Disconnect

    async def cmd_identity_print(self, args: list[str]) -> str:
        return f"  name: {self.hostname}"

    async def cmd_identity_set(self, args: list[str]) -> str:
        params, _ = _params(args)
        if "name" not in params:
            return "failure: missing value for name"
        self.device.running.hostname = params["name"]
        return "" if self.save() else self.save_fail_text

    async def cmd_resource_print(self, args: list[str]) -> str:
        return (
            "                   uptime: 12w3h12m\n                  version: 7.12.1 (stable)\n"
            "               board-name: CHR\n         architecture-name: x86_64"
        )

    async def cmd_export(self, args: list[str]) -> str:
        """`[/PATH] /export [terse] [hide-sensitive]`: the configuration as RouterOS 7 prints
        it (sensitive values hidden by default, long lines continued with a backslash)."""
        path = self._menu_path()
        unknown = [a for a in args if a not in ("terse", "hide-sensitive", "without-paging")]
        if unknown:
            return f"expected end of command (line 1 column {len(' '.join(args)) + 9})"
        if not self.device.rulebase:
            return f"# by RouterOS 7.12.1\n/system identity\nset name={self.hostname}"
        return rulebase.routeros_export(self.device.rulebase, path, "terse" in args, self.hostname)

    def _menu_path(self) -> list[str]:
        """The menu a `/ip firewall export` was typed for (the words before `export`)."""
        words = self.tokenize(self._line)
        return words[: words.index("export")] if "export" in words else []

    async def execute(self, line: str) -> str:
        self._line = line
        return await super().execute(line)

    async def cmd_filter_print(self, args: list[str]) -> str:
        return self._print_rules("/ip firewall filter", args)

    async def cmd_nat_print(self, args: list[str]) -> str:
        return self._print_rules("/ip firewall nat", args)

    def _print_rules(self, path: str, args: list[str]) -> str:
        if [a for a in args if a not in ("stats", "without-paging")] or "stats" not in args:
            return "expected end of command (line 1 column 1)"
        hits = rulebase.counters(self.device.spec.rulebase, self.platform)
        return rulebase.routeros_stats(self.device.rulebase, path, hits)

    async def cmd_service_print(self, args: list[str]) -> str:
        return rulebase.routeros_services(self.device.rulebase)

    async def cmd_user_print(self, args: list[str]) -> str:
        lines = ["Columns: NAME, GROUP", "# NAME" + " " * 11 + "GROUP"]
        for i, (name, user) in enumerate(sorted(self.device.running.users.items())):
            lines.append(f"{i} {name:<16} {user.role}")
        return "\n".join(lines)

    def _find(self, target: str) -> str | None:
        names = sorted(self.device.running.users)
        match = re.fullmatch(r'\[\s*find\s+(?:where\s+)?name="?([^"\]]+?)"?\s*\]', target)
        if match:
            target = match.group(1)
        elif target.isdigit() and int(target) < len(names):
            target = names[int(target)]
        return target if target in names else None

    async def cmd_user_set(self, args: list[str]) -> str:
        params, targets = _params(args)
        if len(targets) != 1 or not params:
            return "failure: missing or bad item number"
        name = self._find(targets[0])
        if name is None:
            return "no such item"
        unknown = set(params) - {"password", "group", "comment"}
        if unknown:
            return f"expected end of command (line 1 column {len(' '.join(args)) + 10})"
        user = self.device.running.users[name]
        if "password" in params:
            return self._apply_password(name, params["password"], role=params.get("group"))
        if "group" in params:
            user.role = params["group"]
        return "" if self.save() else self.save_fail_text

    async def cmd_user_add(self, args: list[str]) -> str:
        params, _ = _params(args)
        if "name" not in params:
            return "failure: missing value for name"
        if params["name"] in self.device.running.users:
            return "failure: user with the same name already exists"
        self.device.running.users[params["name"]] = User(
            hash=hash_password(params.get("password", "")), role=params.get("group", "read")
        )
        return "" if self.save() else self.save_fail_text

    async def cmd_user_remove(self, args: list[str]) -> str:
        name = self._find(args[0]) if args else None
        if name is None:
            return "no such item"
        del self.device.running.users[name]
        return "" if self.save() else self.save_fail_text

    async def cmd_password(self, args: list[str]) -> str:
        params, _ = _params(args)
        needed = ("old-password", "new-password", "confirm-new-password")
        if any(key not in params for key in needed):
            return "failure: old-password, new-password and confirm-new-password are required"
        own = self.device.running.users[self.username]
        if not password_matches(own.hash, params["old-password"]):
            return "failure: old password is not valid"
        if params["new-password"] != params["confirm-new-password"]:
            return "failure: new passwords do not match"
        return self._apply_password(self.username, params["new-password"])

    def _apply_password(self, name: str, password: str, role: str | None = None) -> str:
        if self.rejects_password():
            return self.reject_text
        # RouterOS writes every change to flash with the change itself.
        if self.faults.fail_save:
            return self.save_fail_text
        user = self.device.running.users[name]
        self.device.running.users[name] = User(
            hash_password(password), user.privilege, role or user.role
        )
        self.device.save()
        self.changed()
        return ""


def _params(args: list[str]) -> tuple[dict[str, str], list[str]]:
    """Split RouterOS arguments into key=value parameters and bare items."""
    params: dict[str, str] = {}
    items: list[str] = []
    for arg in args:
        key, eq, value = arg.partition("=")
        if eq and not arg.startswith("["):
            params[key] = value
        else:
            items.append(arg)
    return params, items


def _tokens(line: str) -> list[str]:
    """Whitespace-separated words, keeping "quoted strings" and [find ...] together."""
    tokens: list[str] = []
    current, i = "", 0
    while i < len(line):
        char = line[i]
        if char == "[" and not current:
            end = line.find("]", i)
            end = len(line) - 1 if end < 0 else end
            current, i = line[i : end + 1], end + 1
            continue
        if char == '"':
            i += 1
            while i < len(line) and line[i] != '"':
                if line[i] == "\\" and i + 1 < len(line):
                    i += 1
                current += line[i]
                i += 1
        elif char.isspace():
            if current:
                tokens.append(current)
            current = ""
        else:
            current += char
        i += 1
    if current:
        tokens.append(current)
    return tokens
