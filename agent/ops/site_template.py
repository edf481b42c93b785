"""The commented site config ``keyturn init`` writes for the operator to fill in.

Keys with a default are written with it; keys without one (no TOML null exists) are written
commented out with an example value. tests/test_ops_init.py loads the file as written and
with every example uncommented, so this text cannot drift from agent/config.py.
"""

from __future__ import annotations

from pathlib import Path

from agent.core.errors import ConfigError, UsageError

TEMPLATE = """\
# keyturn site configuration for {client}.
# Every key is described in docs/config.md. Unknown keys are errors, so a typo never
# silently changes what a scheduled run touches. Environment variables KEYTURN_<KEY> and
# KEYTURN_<TABLE>_<KEY> override this file; command-line flags override both.

# The client's short name: names the keyring service (keyturn/{client}) and the store file.
client = "{client}"

# REQUIRED before any scan: the networks you are authorised to touch (CIDRs).
# Empty means nothing, never everything.
scope = []
# scope = ["192.168.10.0/24", "10.20.0.0/22"]

# Addresses inside the scope that must never receive a packet (medical devices, PLCs...).
exclude = []
# exclude = ["192.168.10.50/32"]

# Public address ranges are refused in the scope unless this is true.
allow_public = false

# Inventory store (SQLite). Default: ~/.local/share/keyturn/{client}.db
# store = "/var/lib/keyturn/{client}.db"

[discover]
# ARP sweep send rate, packets per second.
rate = 3000
# "top100" or a port list such as "22,80,443,9100".
ports = "top100"
# Enrich live hosts with nmap (ports, services, OS).
nmap = true
# Interface to sweep from, when several are local to the scope.
# iface = "eth1"
# SNMP v2c communities to try; none by default ("public" only if you list it).
snmp_communities = []
# snmp_communities = ["public"]

[ad]
# Leave domain and server unset to skip the directory audit.
# DNS name of the domain; domain controllers are found by DNS SRV lookup.
# domain = "corp.example.com"
# A domain controller's address (HOST or HOST:PORT); overrides the SRV lookup.
# server = "192.168.10.5"
# Bind account; its password comes from the keyring (keyturn secrets) or password_env.
# user = "CORP\\\\keyturn-audit"
# password_env = "KEYTURN_AD_PASSWORD"
# ldaps, starttls, or ldap (plain simple binds only when chosen explicitly).
transport = "ldaps"
# CA bundle that signed the domain controller's certificate (default: system CAs).
# ca_file = "/etc/keyturn/{client}-dc-ca.pem"
# Skip certificate validation (warned about and recorded in the run). Avoid.
tls_insecure = false
# GSSAPI bind instead of a password (needs keyturn[kerberos]).
kerberos = false
# Accounts not logged on for this many days are reported as stale.
stale_days = 90

[rotation]
# Let "keyturn onboard" rotate without --rotate. It still shows the plan and asks,
# unless --yes; a non-interactive run without --yes refuses the rotation.
enabled = false
# Device classes eligible for rotation.
classes = ["router", "firewall", "switch"]
# Only these platforms (netmiko device types); empty means every supported one.
platforms = []
# platforms = ["cisco_ios", "fortinet"]
# Only these accounts; empty means every account stored for the device.
accounts = []
# accounts = ["admin"]
# A targets file ([[device]] host, platform, username) instead of the inventory.
# targets = "/etc/keyturn/{client}-targets.toml"
# Devices changed at once.
parallel = 8
# Per-device timeout in seconds.
timeout = 60.0
# Override the platform policy's password length (12-128).
# password_length = 24

[report]
# Any of "html", "csv", "json", "md".
formats = ["html"]
# Where reports are written (default: ./keyturn-report-{client}).
# out_dir = "/var/lib/keyturn/reports/{client}"
"""


def render(client: str) -> str:
    """The template for ``client``; refuses a name the config would reject."""
    import tomllib

    from agent import config

    text = TEMPLATE.format(client=client)
    try:
        config.validate(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, ConfigError):
        raise UsageError(
            f"client name {client!r}: use letters, digits, '.', '_' or '-', starting with a "
            "letter or digit (it names the keyring service and the store file)"
        ) from None
    return text


def write(path: Path, client: str) -> Path:
    """Write the template to ``path``; never overwrites an existing file."""
    from agent.core import files

    text = render(client)
    try:
        with files.open_private(path, "x", encoding="utf-8") as handle:  # 0600, no symlink
            handle.write(text)
    except files.FileExistsRefused:
        raise UsageError(f"{path} already exists: not overwriting it (choose --out)") from None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    return path
