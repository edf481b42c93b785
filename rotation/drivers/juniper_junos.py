"""Juniper Junos: candidate config, plain-text-password prompts, `commit confirmed N`, a
fresh-login verify, then a plain `commit` that confirms it (and persists).

`plain-text-password` asks for the password twice at its own prompts, which breaks
send_config_set; the prompts are answered one by one with expect_string.
"""

from __future__ import annotations

from agent.core.secret import Secret
from rotation.contract import ChangeRejected, SaveFailed
from rotation.drivers.ssh import SshDriver
from rotation.policy import PasswordPolicy


class JuniperJunosDriver(SshDriver):
    platform = "juniper_junos"
    device_type = "juniper_junos"
    policy = PasswordPolicy(max_length=128)
    error_pattern = r"(?i)^\s*error:|syntax error|unknown command|commit failed"
    commit_confirm = True
    confirm_minutes = 2

    def account_exists(self) -> bool:
        if self.target.username == "root":
            return True
        query = self.cli("show configuration system login user {name}", name=self.target.username)
        with self.guard("account lookup"):
            output = self.send(query)
        return "authentication" in output or "class" in output

    def auth_servers(self) -> list[str]:
        """With `system authentication-order` naming radius or tacplus, the servers under
        `system radius-server` / `system tacplus-server` of those kinds (read-only)."""
        with self.guard("AAA lookup"):
            output = self.send("show configuration system")
        return junos_auth_servers(output)

    def _set(self, password: Secret, commit: str) -> None:
        if self.target.username == "root":
            statement = "set system root-authentication plain-text-password"
        else:
            statement = self.cli(
                "set system login user {name} authentication plain-text-password",
                name=self.target.username,
            )
        answer = self.cli("{new}", new=password)
        with self.guard("change"):
            self.conn.config_mode()
            output = self.send(statement, expect=r"New password:")
            output += self.send(answer, expect=r"Retype new password:", cmd_verify=False)
            output += self.send(answer, expect=r"#", cmd_verify=False)
            self.check_output(output, "change", ChangeRejected)
            output = self.send(commit, expect=r"#", read_timeout=120)
            self.check_output(output, "commit", ChangeRejected)
            if "commit complete" not in output:
                raise ChangeRejected("commit: the device did not confirm the commit")

    def change(self, new: Secret, old: Secret) -> None:
        # Live at once, rolled back by the device unless confirmed within the minutes.
        self._set(new, f"commit confirmed {self.confirm_minutes}")

    def save(self) -> None:
        """A plain commit confirms the pending one (and writes the configuration)."""
        with self.guard("confirm"):
            self.conn.config_mode()
            output = self.send("commit", expect=r"#", read_timeout=120)
        self.check_output(output, "confirm", SaveFailed)
        if "commit complete" not in output:
            raise SaveFailed("commit: the device did not confirm the commit")

    def revert(self, old: Secret, current: Secret) -> None:
        # A plain commit of the old password also ends a pending commit confirmed.
        self._set(old, "commit")

    def discard(self) -> None:
        with self.guard("rollback"):
            if self.conn.check_config_mode():
                self.send("rollback 0", expect=r"#")
                self.conn.exit_config_mode()


def junos_auth_servers(config: str) -> list[str]:
    """The AAA servers a Junos `show configuration system` (curly-brace text) says logins
    ask before local passwords; [] when the authentication order is local only (the default
    when none is set)."""
    order: list[str] = []
    servers: dict[str, list[str]] = {"radius": [], "tacplus": []}
    stack: list[str] = []
    for raw in config.splitlines():
        line = raw.split("##")[0].strip()
        if line.endswith("{"):
            key = line[:-1].strip()
            if len(stack) == 1 and stack[0] in ("radius-server", "tacplus-server"):
                servers[stack[0].removesuffix("-server")].append(key.split()[0])
            stack.append(key)
        elif line == "}":
            if stack:
                stack.pop()
        elif line.endswith(";"):
            words = line[:-1].replace("[", " ").replace("]", " ").split()
            if not stack and words[:1] == ["authentication-order"]:
                order = words[1:]
            elif len(stack) == 1 and stack[0] in ("radius-server", "tacplus-server") and words:
                servers[stack[0].removesuffix("-server")].append(words[0])
    return [server for kind in order if kind in servers for server in servers[kind]]
