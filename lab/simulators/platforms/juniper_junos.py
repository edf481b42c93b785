"""Juniper Junos: operational / configuration modes over a candidate config and commit."""

from __future__ import annotations

import shlex

from lab.simulators import rulebase
from lab.simulators.shell import CommandTable, Disconnect, Shell, stored_secret
from lab.simulators.state import Config, User, hash_password

OPER, CONFIG, SHELL = "oper", "config", "shell"
Node = dict[str, "Node | None"]


class JunosShell(Shell):
    platform = "juniper_junos"
    default_role = "super-user"
    reject_text = "error: require change of case in the password or more numerics"
    save_fail_text = "error: could not write configuration database\nerror: commit failed"
    save_fault_at_change = True

    def initial_mode(self) -> str:
        # root lands in the FreeBSD shell and types `cli`; netmiko handles that.
        return SHELL if self.username == "root" else OPER

    def banner(self) -> str:
        return "--- JUNOS 21.4R3.15 Kernel 64-bit  JNPR-12.1-20220816.1d7fd84_buil\n"

    def prompt(self) -> str:
        if self.mode == SHELL:
            return f"root@{self.hostname}:~ # "
        if self.mode == CONFIG:
            return f"\n[edit]\n{self.username}@{self.hostname}# "
        return f"{self.username}@{self.hostname}> "

    def tokenize(self, line: str) -> list[str]:
        try:
            return shlex.split(line)
        except ValueError:
            return line.split()

    def invalid(self, line: str, word_index: int) -> str:
        if self.mode == SHELL:
            return f"sh: {line.split()[0]}: not found"
        return f"{self.caret(line, word_index)}\nunknown command."

    def syntax_error(self, line: str, word_index: int) -> str:
        return f"{self.caret(line, word_index)}\nsyntax error."

    @property
    def candidate(self) -> Config:
        if self.device.candidate is None:
            self.device.candidate = self.device.running.copy()
        return self.device.candidate

    def uncommitted(self) -> bool:
        cand = self.device.candidate
        return cand is not None and cand.to_json() != self.device.running.to_json()

    def commands(self) -> CommandTable:
        if self.mode == SHELL:
            return [(("cli",), "cmd_cli"), (("exit",), "cmd_exit")]
        oper: CommandTable = [
            (("set", "cli", "screen-width"), "cmd_screen_width"),
            (("set", "cli", "screen-length"), "cmd_screen_length"),
            (("set", "cli", "complete-on-space"), "cmd_complete_on_space"),
            (("show", "version"), "cmd_show_version"),
            (("show", "configuration"), "cmd_show_configuration"),
            (("show", "security", "policies", "hit-count"), "cmd_hit_count"),
            (("show", "system", "uptime"), "cmd_uptime"),
            (("configure",), "cmd_configure"),
            (("exit",), "cmd_exit"),
            (("quit",), "cmd_exit"),
        ]
        if self.mode == OPER:
            return oper
        return [
            (("set", "system", "login", "user"), "cmd_set_user"),
            (("set", "system", "root-authentication"), "cmd_set_root"),
            (("set", "system", "host-name"), "cmd_set_hostname"),
            (("delete", "system", "login", "user"), "cmd_delete_user"),
            (("show",), "cmd_show_candidate"),
            (("commit",), "cmd_commit"),
            (("rollback",), "cmd_rollback"),
            (("exit", "configuration-mode"), "cmd_exit_config"),
            (("exit",), "cmd_exit_config"),
            (("quit",), "cmd_exit_config"),
            (("top",), "cmd_noop"),
            (("run",), "cmd_run"),
        ]

    # --- operational ------------------------------------------------------------------
    async def cmd_noop(self, args: list[str]) -> str:
        return ""

    async def cmd_cli(self, args: list[str]) -> str:
        self.mode = OPER
        return ""

    async def cmd_exit(self, args: list[str]) -> str:
        raise Disconnect

    async def cmd_screen_width(self, args: list[str]) -> str:
        return f"Screen width set to {args[0] if args else 80}"

    async def cmd_screen_length(self, args: list[str]) -> str:
        return f"Screen length set to {args[0] if args else 24}"

    async def cmd_complete_on_space(self, args: list[str]) -> str:
        on = bool(args) and args[0] == "on"
        return "Enabling complete-on-space" if on else "Disabling complete-on-space"

    async def cmd_show_version(self, args: list[str]) -> str:
        return (
            f"Hostname: {self.hostname}\nModel: vmx\nJunos: 21.4R3.15\n"
            "JUNOS OS Kernel 64-bit  [20220816.1d7fd84_builder_stable_12_214]"
        )

    async def cmd_show_configuration(self, args: list[str]) -> str:
        return self.show_tree(self.device.running, args)

    async def cmd_hit_count(self, args: list[str]) -> str:
        """`show security policies hit-count`: active policies only, counted since boot."""
        hits = rulebase.counters(self.device.spec.rulebase, self.platform)
        policies = rulebase.junos_find(_tree(self.device.running, self.device.rulebase),
                                       ["security", "policies"])  # fmt: skip
        out = [
            "Logical system: root-logical-system",
            " Index   From zone        To zone          Name                Policy count",
        ]
        index = 0
        for pair, node in (policies or {}).items():
            words = pair.split()
            if len(words) != 4 or not isinstance(node, dict):
                continue
            for key in node:
                if not key.startswith("policy "):
                    continue  # `inactive: policy ...` is not in the running policy set
                index += 1
                name = key.split()[1]
                out.append(
                    f" {index:<7} {words[1]:<16} {words[3]:<16} {name:<19} {hits.get(name, 0)}"
                )
        out.append(f"\nNumber of policy: {index}")
        return "\n".join(out)

    async def cmd_uptime(self, args: list[str]) -> str:
        return (
            "Current time: 2026-11-30 10:00:00 UTC\n"
            "Time Source:  NTP CLOCK \n"
            "System booted: 2026-09-06 06:48:00 UTC (12w0d 03:12 ago)\n"
            "Protocols started: 2026-09-06 06:50:41 UTC (12w0d 03:09 ago)\n"
            "Last configured: 2026-11-02 14:11:09 UTC (3w6d 19:48 ago) by admin\n"
            "10:00AM  up 84 days,  3:12, 1 user, load averages: 0.08, 0.05, 0.01"
        )

    async def cmd_configure(self, args: list[str]) -> str:
        self.mode = CONFIG
        if self.uncommitted():
            return (
                "Entering configuration mode\nThe configuration has been changed but not committed"
            )
        return "Entering configuration mode"

    # --- configuration ----------------------------------------------------------------
    async def cmd_run(self, args: list[str]) -> str:
        self.mode = OPER
        try:
            return await self.execute(" ".join(shlex.quote(a) for a in args))
        finally:
            if self.mode == OPER:
                self.mode = CONFIG

    async def cmd_set_hostname(self, args: list[str]) -> str:
        if len(args) != 1:
            return self.syntax_error("set system host-name " + " ".join(args), 3)
        self.candidate.hostname = args[0]
        return ""

    async def cmd_set_root(self, args: list[str]) -> str:
        return await self.set_auth("root", args, "set system root-authentication")

    async def cmd_set_user(self, args: list[str]) -> str:
        if len(args) < 3:
            return "error: incomplete statement"
        name, what, rest = args[0], args[1], args[2:]
        if what == "class":
            user = self.candidate.users.get(name) or User(hash="*", privilege=15)
            user.role = rest[0]
            self.candidate.users[name] = user
            return ""
        if what == "uid":
            return ""
        if what == "authentication":
            return await self.set_auth(name, rest, f"set system login user {name} authentication")
        return self.syntax_error(f"set system login user {name} {what}", 5)

    async def set_auth(self, name: str, args: list[str], context: str) -> str:
        if args and args[0] == "encrypted-password" and len(args) == 2:
            if self.rejects_password():
                return self.reject_text
            new_hash = stored_secret(args[1], "5")
        elif args == ["plain-text-password"]:
            self.term.write("New password:")
            first = await self.term.read_line(echo=False)
            self.term.write("Retype new password:")
            second = await self.term.read_line(echo=False)
            if first is None or second is None:
                raise Disconnect
            if first != second:
                return "error: Passwords do not match"
            if self.rejects_password():
                return self.reject_text
            new_hash = hash_password(first)
        else:
            return self.syntax_error(f"{context} {' '.join(args)}", len(context.split()))
        users = self.candidate.users
        existing = users.get(name)
        users[name] = User(new_hash, 15, existing.role if existing else self.default_role)
        return ""

    async def cmd_delete_user(self, args: list[str]) -> str:
        if not args or self.candidate.users.pop(args[0], None) is None:
            return "warning: statement not found"
        return ""

    async def cmd_show_candidate(self, args: list[str]) -> str:
        if ["compare"] in self.pipes:
            self.pipes.remove(["compare"])
            return _compare(self.device.running, self.candidate)
        return self.show_tree(self.candidate, args)

    async def cmd_commit(self, args: list[str]) -> str:
        if args == ["check"]:
            return "configuration check succeeds"
        confirmed = args[:1] == ["confirmed"]
        minutes = args[1] if confirmed and len(args) > 1 else "10"
        if args not in ([], ["and-quit"]) and not (
            confirmed and len(args) <= 2 and minutes.isdigit()
        ):
            return self.syntax_error("commit " + " ".join(args), 1)
        if self.faults.fail_save:
            return self.save_fail_text
        before = {n: u.hash for n, u in self.device.running.users.items()}
        if confirmed:
            # Live now, written only when a later commit confirms it: unless one comes
            # within the minutes given, the device rolls back to the last confirmed config.
            self.device.arm_revert(int(minutes), reboot=False)
        else:
            self.device.disarm_revert()
        if self.device.candidate is not None:
            self.device.running = self.device.candidate
            self.device.candidate = None
        if not confirmed:
            self.device.save()
        if before != {n: u.hash for n, u in self.device.running.users.items()}:
            self.changed()
        if confirmed:
            return (
                f"commit confirmed will be automatically rolled back in {minutes} minutes "
                "unless confirmed\ncommit complete"
            )
        if args == ["and-quit"]:
            self.mode = OPER
            return "commit complete\nExiting configuration mode"
        return "commit complete"

    async def cmd_rollback(self, args: list[str]) -> str:
        if args not in ([], ["0"]):
            return f"error: rollback {args[0]} not available"
        self.device.candidate = None
        return "load complete"

    async def cmd_exit_config(self, args: list[str]) -> str:
        if self.uncommitted():
            self.term.write(
                "The configuration has been changed but not committed\n"
                "Exit with uncommitted changes? [yes,no] (yes) "
            )
            answer = await self.term.read_line()
            if answer is None:
                raise Disconnect
            if answer.strip().lower() in ("no", "n"):
                return ""
        self.mode = OPER
        return "Exiting configuration mode"

    # --- rendering --------------------------------------------------------------------
    def show_tree(self, config: Config, path: list[str]) -> str:
        text = self.device.rulebase
        node = rulebase.junos_find(_tree(config, text), path)
        if not isinstance(node, dict):
            return ""
        if any(p[:2] == ["display", "set"] for p in self.pipes):
            self.pipes = [p for p in self.pipes if p[:1] != ["display"]]
            return "\n".join(_set_lines(node, " ".join(path)))
        header = rulebase.junos_tree(text)[0] if text and not path else []
        return "\n".join([*header, *_render(node, 0)])


def _tree(config: Config, text: str = "") -> Node:
    """The configuration: the rule base's hierarchy (if the device has one) with this
    device's host name, accounts and AAA servers (the rotation's state) in `system`."""
    own = _own_tree(config)
    if not text:
        return own
    tree = rulebase.junos_tree(text)[1]
    system: Node = {}
    for key, child in (tree.get("system") or {}).items():
        if key.startswith("host-name "):
            system.update({k: v for k, v in (own["system"] or {}).items() if k != "services"})
        else:
            system[key] = child
    return {**tree, "system": system}


def _set_lines(node: Node, prefix: str) -> list[str]:
    """`| display set`: an `inactive:` statement is set, then deactivated, as Junos prints."""
    out = []
    for keys, leaf in _flatten(node):
        words = [k.removeprefix("inactive: ") for k in (*keys, leaf)]
        out.append(f"set {prefix + ' ' if prefix else ''}{' '.join(words)}")
    for keys in _inactive(node, ()):
        out.append(f"deactivate {prefix + ' ' if prefix else ''}{' '.join(keys)}")
    return out


def _inactive(node: Node, keys: tuple[str, ...]) -> list[tuple[str, ...]]:
    found = []
    for key, child in node.items():
        clean = (*keys, key.removeprefix("inactive: "))
        if key.startswith("inactive: "):
            found.append(clean)
        if isinstance(child, dict):
            found.extend(_inactive(child, clean))
    return found


def _own_tree(config: Config) -> Node:
    users: Node = {}
    for uid, (name, user) in enumerate(sorted(config.users.items()), start=2000):
        if name == "root":
            continue
        users[f"user {name}"] = {
            f"uid {uid}": None,
            f"class {user.role or 'super-user'}": None,
            "authentication": {f'encrypted-password "{user.hash}"': None},
        }
    system: Node = {f"host-name {config.hostname}": None}
    if "root" in config.users:
        system["root-authentication"] = {f'encrypted-password "{config.users["root"].hash}"': None}
    if config.aaa_servers:
        # Logins ask the servers first (the first TACACS+, the rest RADIUS), then local.
        system["authentication-order [ tacplus radius password ]"] = None
        system["tacplus-server"] = {
            server: {'secret "$9$aaa"': None} for server in config.aaa_servers[:1]
        }
        system["radius-server"] = {
            server: {'secret "$9$aaa"': None} for server in config.aaa_servers[1:]
        }
    system["login"] = users
    system["services"] = {"ssh": None, "netconf": {"ssh": None}}
    return {"system": system}


def _render(node: Node, depth: int) -> list[str]:
    pad = "    " * depth
    lines = []
    for key, child in node.items():
        if child is None:
            hidden = key.startswith("encrypted-password") or '"$9$' in key
            secret = " ## SECRET-DATA" if hidden else ""
            lines.append(f"{pad}{key};{secret}")
        else:
            lines.extend([f"{pad}{key} {{", *_render(child, depth + 1), f"{pad}}}"])
    return lines


def _flatten(node: Node, keys: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    out: list[tuple[tuple[str, ...], str]] = []
    for key, child in node.items():
        if child is None:
            out.append((keys, key))
        else:
            out.extend(_flatten(child, (*keys, key)))
    return out


def _compare(running: Config, candidate: Config) -> str:
    """`show | compare`: changed statements grouped under their [edit ...] hierarchy."""
    old, new = _flatten(_own_tree(running)), _flatten(_own_tree(candidate))
    groups: dict[tuple[str, ...], list[str]] = {}
    for keys, leaf in old:
        if (keys, leaf) not in new:
            groups.setdefault(keys, []).append(f"-    {leaf};")
    for keys, leaf in new:
        if (keys, leaf) not in old:
            groups.setdefault(keys, []).append(f"+    {leaf};")
    lines = []
    for keys, changes in groups.items():
        lines.append(f"[edit {' '.join(keys)}]")
        lines.extend(changes)
    return "\n".join(lines)
