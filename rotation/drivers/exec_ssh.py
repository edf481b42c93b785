"""Appliances driven by one SSH exec request per command, no interactive CLI (ESXi's shell
prompt is not one netmiko recognises; DSM's tools read their input from stdin).

A command's failure is its exit status or an ``error_pattern`` match in its output; input
(sudo's password) goes to its stdin, never into the command line. Authentication and the
host-key pin are SshDriver's.
"""

from __future__ import annotations

from typing import Any

from agent.core.secret import Secret
from rotation.contract import DriverError
from rotation.drivers.ssh import SshDriver


class ExecDriver(SshDriver):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.transport: Any = None

    def open(self, rotated: Secret) -> None:
        import paramiko

        password, _ = self.credentials(rotated)
        try:
            self.transport = self._transport()
            self.transport.auth_password(self.target.login_user, password.reveal(), fallback=False)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            self._verify_failure(exc)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    @property
    def alive(self) -> bool:
        return self.transport is not None and self.transport.is_active()

    def run(self, command: str, error: type[DriverError], stdin: str = "") -> str:
        """``command``'s output (stdout and stderr); ``error`` when it failed."""
        with self.guard(command.split()[0]):
            channel = self.transport.open_session(timeout=self.timeout)
            channel.settimeout(self.timeout)
            channel.set_combine_stderr(True)
            channel.exec_command(command)
            if stdin:
                channel.sendall(stdin.encode())
            chunks = []
            while data := channel.recv(65536):
                chunks.append(data)
            status = channel.recv_exit_status()
            if channel.closed and status == -1:
                raise EOFError("the device closed the session")
        output = b"".join(chunks).decode("utf-8", "replace")
        self.check_output(output, command.split()[0], error)
        if status != 0:
            raise error(f"{command.split()[0]}: exit status {status}")
        return output
