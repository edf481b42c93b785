"""HP ProCurve / Aruba AOS-S: `password manager user-name NAME plaintext NEW`, `write memory`.

The manager (or operator) level keeps its name; the account line appears in the running
config with `include-credentials`.
"""

from rotation.drivers.config_lines import ConfigLineDriver
from rotation.policy import PasswordPolicy


class HpProcurveDriver(ConfigLineDriver):
    platform = "hp_procurve"
    device_type = "hp_procurve"
    # AOS-S takes 64 characters; `"` ends the value.
    policy = PasswordPolicy(max_length=64)
    error_pattern = r"(?i)^\s*(Invalid input|Error|Password (must|does not))"
    account_pattern = r'^password (?P<level>manager|operator) user-name "?{name}"? '
    change_lines = ("password {level} user-name {name} plaintext {new}",)
