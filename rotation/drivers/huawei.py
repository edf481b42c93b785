"""Huawei VRP: `aaa` / `local-user NAME password irreversible-cipher NEW`, then `save`,
which asks `Are you sure to continue?[Y/N]` before writing."""

from rotation.drivers.config_lines import ConfigLineDriver
from rotation.policy import PasswordPolicy


class HuaweiDriver(ConfigLineDriver):
    platform = "huawei"
    device_type = "huawei"
    # VRP's local-user passwords: 8-128 characters; `?` is help and `"` quotes.
    policy = PasswordPolicy(max_length=128)
    error_pattern = r"(?i)^\s*Error:"
    show_accounts = "display current-configuration | include local-user"
    account_pattern = r"^\s*local-user {name} password"
    change_lines = ("aaa", "local-user {name} password irreversible-cipher {new}")
    save_command = "save"
    save_question = r"continue\?\s*\[Y/N\]"
    save_ok = r"successfully"
