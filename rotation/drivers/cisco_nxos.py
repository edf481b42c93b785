"""Cisco NX-OS: `username NAME password VALUE` keeps the role; `copy run start`."""

from rotation.drivers.cisco import CiscoDriver
from rotation.policy import PasswordPolicy


class CiscoNxosDriver(CiscoDriver):
    platform = "cisco_nxos"
    device_type = "cisco_nxos"
    policy = PasswordPolicy(max_length=64)
    username_command = "username {name} password {secret}"
