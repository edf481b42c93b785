"""Cisco ASA: `username NAME password VALUE privilege N`, `enable password`, lands in `>`."""

from rotation.drivers.cisco import CiscoDriver
from rotation.policy import PasswordPolicy


class CiscoAsaDriver(CiscoDriver):
    platform = "cisco_asa"
    device_type = "cisco_asa"
    # ASA before 9.6 caps passwords at 32 characters.
    policy = PasswordPolicy(max_length=32)
    username_command = "username {name} password {secret} privilege {privilege}"
    enable_command = "enable password {secret} level 15"
