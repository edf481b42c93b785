"""FortiOS 7: `config system admin` / `edit` / `set password NEW OLD` / `next` / `end`.

An edit takes effect (and is saved) on `next` or `end`; `abort` discards it, and so
does a session that ends in the middle of an edit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lab.simulators import rulebase
from lab.simulators.shell import CommandTable, Disconnect, Shell
from lab.simulators.state import User, hash_password, password_matches
from lab.simulators.terminal import Terminal

if TYPE_CHECKING:
    from lab.simulators.server import Device

TOP = ""
PARSE_FAIL = "Command fail. Return code -61"

STATUS = """Version: FortiGate-VM64 v7.2.5,build1517,230606 (GA.F)
Security Level: 2
Firmware Signature: certified
Virus-DB: 91.04176(2023-06-12 06:24)
Serial-Number: FGVM02TM23000001
License Status: Valid
Log hard disk: Available
Hostname: {hostname}
Private Encryption: Disable
Operation Mode: NAT
Current virtual domain: root
Max number of virtual domains: 1
Virtual domains status: 1 in NAT mode, 0 in TP mode
Virtual domain configuration: disable
FIPS-CC mode: disable
Current HA mode: standalone
Branch point: 1517
Release Version Information: GA
System time: Sat Nov 21 12:00:00 2026"""


# The wildcard admin entry a device with remote authentication shows.
REMOTE_ADMIN = "aaa-admins"
# `config system console` / `set output more` (the default) pages every answer.
PAGE_LINES = 24
MORE = "--More-- "
ERASE = "\r" + " " * len(MORE) + "\r"


class FortinetShell(Shell):
    platform = "fortinet"
    default_role = "super_admin"
    pipe_commands = ("show", "get")
    reject_text = (
        "The new password must conform to the password policy enforced on this device:\n"
        "minimum-length=12; must contain at least 1 upper case letter(s)\n"
        "node_check_object fail! for password\n\nvalue parse error\n"
        "Command fail. Return code -49"
    )
    save_fail_text = "Failed to write the configuration to flash\nCommand fail. Return code -1"

    def __init__(self, device: Device, term: Terminal, username: str) -> None:
        # The open `edit`: applied on next/end, dropped on abort or hang-up.
        self.edit_name: str | None = None
        self.edit_user: User | None = None
        self.edit_changed_password = False
        super().__init__(device, term, username)

    def initial_mode(self) -> str:
        return TOP

    def prompt(self) -> str:
        if self.edit_name is not None:
            return f"{self.hostname} ({self.edit_name}) # "
        if self.mode:
            return f"{self.hostname} ({self.mode.split()[-1]}) # "
        return f"{self.hostname} # "

    def invalid(self, line: str, word_index: int) -> str:
        if self.mode == TOP:
            return "Unknown action 0"
        return f"command parse error before '{line.split()[word_index]}'\n{PARSE_FAIL}"

    def commands(self) -> CommandTable:
        if self.mode == TOP:
            return [
                (("get", "system", "status"), "cmd_status"),
                (("get", "system", "console"), "cmd_get_console"),
                (("show", "system", "admin"), "cmd_show_admins"),
                (("show", "user", "radius"), "cmd_show_radius"),
                (("show", "user", "tacacs+"), "cmd_show_tacacs"),
                (("show",), "cmd_show"),
                (("get", "system", "performance", "status"), "cmd_performance"),
                (("diagnose", "firewall", "iprope", "show"), "cmd_iprope"),
                (("diagnose", "firewall", "iprope", "list"), "cmd_iprope_list"),
                (("config", "system", "admin"), "cmd_config_admin"),
                (("config", "system", "console"), "cmd_config_console"),
                (("exit",), "cmd_exit"),
            ]
        if self.mode == "system console":
            return [
                (("set", "output"), "cmd_set_output"),
                (("end",), "cmd_end"),
                (("next",), "cmd_noop"),
                (("abort",), "cmd_abort"),
            ]
        if self.edit_name is None:
            return [
                (("edit",), "cmd_edit"),
                (("delete",), "cmd_delete"),
                (("show",), "cmd_show_admins"),
                (("get",), "cmd_get_admins"),
                (("end",), "cmd_end"),
                (("abort",), "cmd_abort"),
            ]
        return [
            (("set", "password"), "cmd_set_password"),
            (("set", "accprofile"), "cmd_set_accprofile"),
            (("set", "vdom"), "cmd_noop"),
            (("set", "trusthost1"), "cmd_noop"),
            (("unset",), "cmd_noop"),
            (("show",), "cmd_show_edit"),
            (("get",), "cmd_show_edit"),
            (("next",), "cmd_next"),
            (("end",), "cmd_end"),
            (("abort",), "cmd_abort"),
        ]

    async def cmd_noop(self, args: list[str]) -> str:
        return ""

    async def write_output(self, output: str) -> None:
        if self.device.settings.get("console_output", "more") == "more":
            await self.page(output, PAGE_LINES, MORE, ERASE)
        else:
            self.term.write(output)

    async def cmd_show(self, args: list[str]) -> str:
        """`show [PATH [ENTRY]]` from the rule base: what the device prints, defaults left
        out (a deny policy has no `set action`)."""
        text = self.device.rulebase
        if not args:
            admins = await self.cmd_show_admins([])
            return rulebase.fortios_full(text, admins) if text else admins
        shown = rulebase.fortios_show(text, args) if text else None
        if shown is None:
            return f"command parse error before '{args[-1]}'\n{PARSE_FAIL}"
        return shown

    async def cmd_performance(self, args: list[str]) -> str:
        return rulebase.FORTIOS_PERFORMANCE

    async def cmd_iprope(self, args: list[str]) -> str:
        """`diagnose firewall iprope show 100004 [ID]`: the forward policies' hit counters."""
        if not args or args[0] != "100004" or len(args) > 2:
            return f"command parse error before '{args[0] if args else 'show'}'\n{PARSE_FAIL}"
        hits = rulebase.counters(self.device.spec.rulebase, self.platform)
        policy = args[1] if len(args) > 1 else None
        return rulebase.fortios_iprope(self.device.rulebase, hits, policy)

    async def cmd_iprope_list(self, args: list[str]) -> str:
        if args != ["100004"]:
            return f"command parse error before '{args[0] if args else 'list'}'\n{PARSE_FAIL}"
        hits = rulebase.counters(self.device.spec.rulebase, self.platform)
        return rulebase.fortios_iprope_list(self.device.rulebase, hits)

    async def cmd_exit(self, args: list[str]) -> str:
        raise Disconnect

    async def cmd_status(self, args: list[str]) -> str:
        return STATUS.format(hostname=self.hostname)

    async def cmd_get_console(self, args: list[str]) -> str:
        output = self.device.settings.get("console_output", "more")
        return (
            f"mode                : line\nbaudrate            : 9600\n"
            f"output              : {output}\nlogin               : enable"
        )

    async def cmd_config_console(self, args: list[str]) -> str:
        self.mode = "system console"
        return ""

    async def cmd_set_output(self, args: list[str]) -> str:
        if args not in (["standard"], ["more"]):
            return f"command parse error before '{args[0] if args else ''}'\n{PARSE_FAIL}"
        self.device.settings["console_output"] = args[0]
        return ""

    async def cmd_config_admin(self, args: list[str]) -> str:
        self.mode = "system admin"
        return ""

    async def cmd_edit(self, args: list[str]) -> str:
        if len(args) != 1:
            return f"command parse error before 'edit'\n{PARSE_FAIL}"
        name = args[0].strip('"')
        existing = self.device.running.users.get(name)
        self.edit_name = name
        self.edit_changed_password = False
        if existing is None:
            self.edit_user = User(hash="", privilege=15, role="prof_admin")
            return f"new entry '{name}' added"
        self.edit_user = User(existing.hash, existing.privilege, existing.role)
        return ""

    async def cmd_delete(self, args: list[str]) -> str:
        if not args or self.device.running.users.pop(args[0].strip('"'), None) is None:
            return f"entry not found in datasource\n{PARSE_FAIL}"
        return "" if self.save() else self.save_fail_text

    async def cmd_set_password(self, args: list[str]) -> str:
        assert self.edit_user is not None
        if not args or len(args) > 2:
            return f"command parse error before 'password'\n{PARSE_FAIL}"
        own_account = (
            self.edit_name == self.username and self.edit_name in self.device.running.users
        )
        if own_account:
            if len(args) < 2:
                return (
                    "The old password is required to change the password of the "
                    f"current administrator.\n{PARSE_FAIL.replace('-61', '-651')}"
                )
            if not password_matches(self.device.running.users[self.username].hash, args[1]):
                return f"The old password is incorrect.\n{PARSE_FAIL.replace('-61', '-651')}"
        if self.rejects_password():
            return self.reject_text
        self.edit_user.hash = hash_password(args[0])
        self.edit_changed_password = True
        return ""

    async def cmd_set_accprofile(self, args: list[str]) -> str:
        assert self.edit_user is not None
        if len(args) != 1:
            return f"command parse error before 'accprofile'\n{PARSE_FAIL}"
        self.edit_user.role = args[0].strip('"')
        return ""

    async def cmd_show_edit(self, args: list[str]) -> str:
        assert self.edit_name is not None and self.edit_user is not None
        return self.render_admin(self.edit_name, self.edit_user)

    async def cmd_show_admins(self, args: list[str]) -> str:
        entries = [self.render_admin(n, u) for n, u in sorted(self.device.running.users.items())]
        if self.device.running.aaa_servers:
            # Remote admins: any name in the group, authenticated by the servers below.
            entries.append(
                f'    edit "{REMOTE_ADMIN}"\n        set remote-auth enable\n'
                '        set accprofile "super_admin"\n        set wildcard enable\n'
                '        set remote-group "aaa-admins"\n    next'
            )
        body = "\n".join(entries)
        return f"config system admin\n{body}\nend"

    async def cmd_show_radius(self, args: list[str]) -> str:
        # The first AAA server is a TACACS+ one, the rest RADIUS (both kinds get parsed).
        return self.render_servers("radius", self.device.running.aaa_servers[1:])

    async def cmd_show_tacacs(self, args: list[str]) -> str:
        return self.render_servers("tacacs+", self.device.running.aaa_servers[:1])

    def render_servers(self, kind: str, servers: list[str]) -> str:
        entries = [
            f'    edit "aaa{number}"\n        set server "{server}"\n'
            "        set key ENC c2VjcmV0\n    next"
            for number, server in enumerate(servers, start=1)
        ]
        return "\n".join([f"config user {kind}", *entries, "end"])

    async def cmd_get_admins(self, args: list[str]) -> str:
        return "\n".join(
            f"== [ {name} ]\nname: {name}" for name in sorted(self.device.running.users)
        )

    def render_admin(self, name: str, user: User) -> str:
        return (
            f'    edit "{name}"\n        set accprofile "{user.role}"\n'
            f'        set vdom "root"\n        set password ENC {user.hash}\n    next'
        )

    async def cmd_next(self, args: list[str]) -> str:
        output = self.commit_edit()
        self.edit_name, self.edit_user = None, None
        return output

    async def cmd_end(self, args: list[str]) -> str:
        output = self.commit_edit() if self.edit_name is not None else ""
        self.edit_name, self.edit_user, self.mode = None, None, TOP
        return output

    async def cmd_abort(self, args: list[str]) -> str:
        self.edit_name, self.edit_user, self.mode = None, None, TOP
        return ""

    def commit_edit(self) -> str:
        """Apply the open edit to the running config and write it to flash at once."""
        name, user = self.edit_name, self.edit_user
        if name is None or user is None:
            return ""
        if not user.hash:
            return f"Attribute 'password' MUST be set.\n{PARSE_FAIL}"
        if self.faults.fail_save:
            return self.save_fail_text
        self.device.running.users[name] = user
        self.device.save()
        if self.edit_changed_password:
            self.changed()
        return ""
