"""The site configuration: one TOML file per client site.

Precedence is config file < environment (``KEYTURN_*``) < command-line flags. Every key is
documented in docs/config.md; unknown keys are errors (a typo must not silently widen or
narrow what a scheduled run touches).
"""

# No ``from __future__ import annotations``: agent/config_schema.py reads each field's type
# object from dataclasses.fields(); postponed annotations would leave it a string.

import os
import re
import tomllib
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal

from agent.config_schema import Invalid, build, from_env, unwrap
from agent.core.errors import ConfigError, ScopeError
from agent.core.labguard import check_lab_binding
from agent.core.scope import ScopeGuard, parse_network
from inventory.classes import DEVICE_CLASSES

ENV_PREFIX = "KEYTURN_"

# Plain dataclasses checked by agent/config_schema.py (rules in each field's metadata), not
# pydantic models: pydantic's import and model builds cost ~0.15-0.2 s of every command's
# start-up. Frozen, because nothing re-checks an assignment. Keyword construction
# (``AdConfig(user=...)``) fills in the defaults unchecked; ``load`` and ``validate`` check.


def _known_classes(value: list[str]) -> None:
    unknown = sorted(set(value) - set(DEVICE_CLASSES))
    if unknown:
        raise ValueError(f"unknown device class {', '.join(unknown)}")


def _names(value: list[str]) -> None:
    for name in value:
        if not re.fullmatch(r"[\w./:@+-]{1,64}", name):
            raise ValueError(f"not an interface or zone name: {name!r}")


def _cidrs(value: list[str]) -> None:
    for item in value:
        try:
            parse_network(item)
        except ScopeError as exc:
            raise ValueError(str(exc)) from exc


_NAME = r"[A-Za-z0-9][A-Za-z0-9_/-]*"  # a vault mount: no leading '/', '.', or '..'


@dataclass(frozen=True)
class DiscoverConfig:
    rate: int = field(default=3000, metadata={"gt": 0, "le": 1_000_000})  # ARP packets/s
    ports: str = "top100"  # 'top100' or a port list such as '22,80,443'
    nmap: bool = True
    iface: str | None = None
    snmp_communities: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AdConfig:
    domain: str | None = None
    server: str | None = None
    user: str | None = None
    password_env: str | None = None
    transport: Literal["ldaps", "starttls", "ldap"] = "ldaps"
    ca_file: str | None = None
    tls_insecure: bool = False
    kerberos: bool = False
    stale_days: int = field(default=90, metadata={"gt": 0})


@dataclass(frozen=True)
class RotationConfig:
    enabled: bool = False
    classes: list[str] = field(
        default_factory=lambda: ["router", "firewall", "switch"],
        metadata={"check": _known_classes},
    )
    platforms: list[str] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)
    targets: str | None = None
    parallel: int = field(default=8, metadata={"gt": 0, "le": 256})
    timeout: float = field(default=60.0, metadata={"gt": 0})
    password_length: int | None = field(default=None, metadata={"ge": 12, "le": 128})


@dataclass(frozen=True)
class ReportConfig:
    formats: list[Literal["html", "csv", "json", "md"]] = field(default_factory=lambda: ["html"])
    out_dir: str | None = None


@dataclass(frozen=True)
class LabBinding:
    """Written by ``keyturn lab up``: this config belongs to one lab and is refused outside
    its technician namespace, where 198.18.0.0/15 would route out of the real interface."""

    id: str = field(metadata={"pattern": r"kt[0-9a-f]{6}"})
    technician_netns: str = field(metadata={"pattern": r"kt[0-9a-f]{6}-tech"})


@dataclass(frozen=True)
class DnsConfig:
    """``keyturn dns``: the client's domains and the only resolvers it may ask (docs/dns.md)."""

    domains: list[str] = field(default_factory=list)
    nameservers: list[str] = field(default_factory=list)
    dkim_selectors: list[str] = field(default_factory=list)
    rdap_bootstrap: str | None = None
    expiry_days: int = field(default=30, metadata={"gt": 0, "le": 3650})
    aging_days: int = field(default=14, metadata={"gt": 0, "le": 3650})
    internal_zones: bool = True


@dataclass(frozen=True)
class ReviewConfig:
    """``keyturn review``: the interfaces or zones to treat as untrusted (the WAN side); when
    empty, keyturn infers them from the default route and public interface addresses."""

    untrusted: list[str] = field(default_factory=list, metadata={"check": _names})


@dataclass(frozen=True)
class SecretsConfig:
    """Where device passwords and the audit key live: the OS keyring, or an OpenBao/Vault
    KV v2 mount (token from VAULT_TOKEN, AppRole from VAULT_ROLE_ID/VAULT_SECRET_ID, or a
    root-only ``token_file``; TLS is always verified, against ``ca_file`` when given)."""

    backend: Literal["keyring", "vault"] = "keyring"
    address: str | None = None
    mount: str = field(default="secret", metadata={"pattern": _NAME})
    path: str = field(
        default="keyturn/{client}", metadata={"pattern": r"[A-Za-z0-9{][A-Za-z0-9_/.{}-]*"}
    )
    ca_file: str | None = None
    token_file: str | None = None
    approle_mount: str = field(default="approle", metadata={"pattern": _NAME})
    timeout: float = field(default=10.0, metadata={"gt": 0})


@dataclass(frozen=True)
class SiteConfig:
    client: str = field(default="default", metadata={"pattern": r"[A-Za-z0-9][A-Za-z0-9._-]*"})
    scope: list[str] = field(default_factory=list, metadata={"check": _cidrs})
    exclude: list[str] = field(default_factory=list, metadata={"check": _cidrs})
    allow_public: bool = False
    store: str | None = None
    discover: DiscoverConfig = field(default_factory=DiscoverConfig)
    ad: AdConfig = field(default_factory=AdConfig)
    rotation: RotationConfig = field(default_factory=RotationConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    dns: DnsConfig = field(default_factory=DnsConfig)
    review: ReviewConfig = field(default_factory=ReviewConfig)
    lab: LabBinding | None = None
    secrets: SecretsConfig = field(default_factory=SecretsConfig)

    def scope_guard(
        self, scope: list[str] | None = None, exclude: list[str] | None = None
    ) -> ScopeGuard:
        """The guard for this run: flags, when given, replace the configured lists."""
        return ScopeGuard(
            scope if scope else self.scope,
            [*self.exclude, *(exclude or [])],
            allow_public=self.allow_public,
        )

    def check_lab_namespace(self, label: str) -> None:
        """A lab's config runs only inside that lab's technician namespace (see
        agent/core/labguard.py; the CLI checks before any command, this covers callers that
        build an AppContext themselves)."""
        if self.lab is not None:
            check_lab_binding(label, asdict(self.lab))


def load(
    path: str | Path | None,
    environ: dict[str, str] | None = None,
    *,
    scope: list[str] | None = None,
) -> SiteConfig:
    """Load and validate a site config; ``path=None`` means defaults plus environment.
    ``scope`` (the global --scope flags) replaces the file's and the environment's scope."""
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    text = ""
    label = "<environment>"
    if path is not None:
        label = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{label}: cannot read: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{label}: not UTF-8 text (byte {exc.start}): not a TOML file?"
            ) from None
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{label}: not valid TOML: {exc}") from exc
    _apply_environment(raw, environ)
    if scope:
        for item in scope:
            parse_network(item)  # a bad --scope names itself, not the config file
        raw["scope"] = list(scope)
    return validate(raw, label, text)


def validate(raw: dict[str, Any], label: str = "<config>", text: str = "") -> SiteConfig:
    """``raw`` (parsed TOML, ``text`` its source for line numbers) as a SiteConfig, or
    ConfigError naming the first bad key in one line."""
    try:
        return build(SiteConfig, raw, [])
    except Invalid as exc:
        raise ConfigError(_describe(exc, label, text)) from None


def _apply_environment(raw: dict[str, Any], environ: dict[str, str]) -> None:
    """KEYTURN_SCOPE, KEYTURN_AD_SERVER, KEYTURN_ROTATION_PARALLEL, ...; lists comma-separated.
    The environment cannot write [lab]: only ``keyturn lab up`` binds a config to a lab."""
    top = {item.name: item.type for item in fields(SiteConfig)}
    tables = {name: unwrap(kind) for name, kind in top.items() if is_dataclass(unwrap(kind))}
    for var, value in environ.items():
        if not var.startswith(ENV_PREFIX):
            continue
        key = var[len(ENV_PREFIX) :].lower()
        table = next((t for t in tables if key.startswith(f"{t}_")), None)
        if table is None:
            if key in top and key not in tables:
                raw[key] = from_env(top[key], value)
            continue
        kinds = {item.name: item.type for item in fields(tables[table])}
        name = key[len(table) + 1 :]
        # A file's table that is not a table (``ad = 1``) is left for the validator to name.
        if table != "lab" and name in kinds and isinstance(raw.setdefault(table, {}), dict):
            raw[table][name] = from_env(kinds[name], value)


def _describe(error: Invalid, label: str, text: str) -> str:
    """One line naming the first bad key, its table and, when found, its line."""
    dotted = ".".join(error.keys)
    line = _find_line(text, error.keys)
    where = f"{label}:{line}" if line else label
    if error.kind == "unknown":
        return f"{where}: unknown key '{dotted}'"
    if error.kind == "missing":
        return f"{where}: missing key '{dotted}'"
    return f"{where}: bad value for '{dotted}': {error.reason}"


def _find_line(text: str, keys: list[str]) -> int | None:
    if not text or not keys:
        return None
    table, key = (keys[0], keys[-1]) if len(keys) > 1 else (None, keys[0])
    current: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.match(r"^\[\s*([^\]]+?)\s*\]", stripped)
        if header:
            current = header.group(1)
            continue
        if current == table and re.match(rf"^{re.escape(key)}\s*=", stripped):
            return number
    return None
