"""Cisco NX-OS: lands in `#`, users carry a role, saved with `copy running-config ...`."""

from __future__ import annotations

from lab.simulators.platforms.cisco import CiscoShell
from lab.simulators.shell import CommandTable
from lab.simulators.state import User


class CiscoNxosShell(CiscoShell):
    platform = "cisco_nxos"
    default_role = "network-admin"
    invalid_text = "% Invalid command at '^' marker."
    incomplete_text = "% Incomplete command at '^' marker."
    config_banner = "Enter configuration commands, one per line. End with CNTL/Z."
    reject_text = (
        "password is weak\nPassword should contain characters from at least three of the "
        "following classes: lower case letters, upper case letters, digits and special "
        "characters."
    )
    save_fail_text = (
        "[########################################] 100%\n"
        "Configuration update aborted: request was aborted"
    )
    version_text = (
        "Cisco Nexus Operating System (NX-OS) Software\n"
        "TAC support: http://www.cisco.com/tac\n\n"
        "Software\n  NXOS: version 9.3(10)\n\nHardware\n"
        "  cisco Nexus9000 C93180YC-EX chassis\n\n  Device name: {hostname}"
    )
    static_config = "interface Ethernet1/1\n  no shutdown\n!"

    def banner(self) -> str:
        return (
            "Cisco NX-OS Software\nCopyright (c) 2002-2022, Cisco Systems, Inc. "
            "All rights reserved.\n"
        )

    def initial_mode(self) -> str:
        return "enable"

    def save_commands(self) -> CommandTable:
        return [(("copy", "running-config", "startup-config"), "cmd_copy_run_start")]

    async def cmd_copy_run_start(self, args: list[str]) -> str:
        if not self.save():
            return self.save_fail_text
        return (
            "[########################################] 100%\n"
            "Copy complete, now saving to disk (please wait)...\nCopy complete."
        )

    def render_user(self, name: str, user: User) -> str:
        return f"username {name} password 5 {user.hash}  role {user.role or 'network-operator'}"
