"""The site configuration: one TOML file per client site.

Precedence is config file < environment (``KEYTURN_*``) < command-line flags. Every key is
documented in docs/config.md; unknown keys are errors (a typo must not silently widen or
narrow what a scheduled run touches).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent.core.errors import ConfigError, ScopeError
from agent.core.labguard import check_lab_binding
from agent.core.scope import ScopeGuard, parse_network
from inventory.classes import DEVICE_CLASSES

ENV_PREFIX = "KEYTURN_"


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DiscoverConfig(_Table):
    rate: int = Field(3000, gt=0, le=1_000_000, description="ARP packets per second")
    ports: str = Field("top100", description="'top100' or a port list such as '22,80,443'")
    nmap: bool = True
    iface: str | None = None
    snmp_communities: list[str] = Field(default_factory=list)


class AdConfig(_Table):
    domain: str | None = None
    server: str | None = None
    user: str | None = None
    password_env: str | None = None
    transport: Literal["ldaps", "starttls", "ldap"] = "ldaps"
    ca_file: str | None = None
    tls_insecure: bool = False
    kerberos: bool = False
    stale_days: int = Field(90, gt=0)


class RotationConfig(_Table):
    enabled: bool = False
    classes: list[str] = Field(default_factory=lambda: ["router", "firewall", "switch"])
    platforms: list[str] = Field(default_factory=list)
    accounts: list[str] = Field(default_factory=list)
    targets: str | None = None
    parallel: int = Field(8, gt=0, le=256)
    timeout: float = Field(60.0, gt=0)
    password_length: int | None = Field(None, ge=12, le=128)

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(DEVICE_CLASSES))
        if unknown:
            raise ValueError(f"unknown device class {', '.join(unknown)}")
        return value


class ReportConfig(_Table):
    formats: list[Literal["html", "csv", "json", "md"]] = Field(default_factory=lambda: ["html"])
    out_dir: str | None = None


class LabBinding(_Table):
    """Written by ``keyturn lab up``: this config belongs to one lab and is refused outside
    its technician namespace, where 198.18.0.0/15 would route out of the real interface."""

    id: str = Field(pattern=r"^kt[0-9a-f]{6}$")
    technician_netns: str = Field(pattern=r"^kt[0-9a-f]{6}-tech$")


class DnsConfig(_Table):
    """``keyturn dns``: the client's domains and the only resolvers it may ask (docs/dns.md)."""

    domains: list[str] = Field(default_factory=list)
    nameservers: list[str] = Field(default_factory=list)
    dkim_selectors: list[str] = Field(default_factory=list)
    rdap_bootstrap: str | None = None
    expiry_days: int = Field(30, gt=0, le=3650)
    aging_days: int = Field(14, gt=0, le=3650)
    internal_zones: bool = True


class ReviewConfig(_Table):
    """``keyturn review``: the interfaces or zones to treat as untrusted (the WAN side); when
    empty, keyturn infers them from the default route and public interface addresses."""

    untrusted: list[str] = Field(default_factory=list)

    @field_validator("untrusted")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.fullmatch(r"[\w./:@+-]{1,64}", name):
                raise ValueError(f"not an interface or zone name: {name!r}")
        return value


class SecretsConfig(_Table):
    """Where device passwords and the audit key live: the OS keyring, or an OpenBao/Vault
    KV v2 mount (token from VAULT_TOKEN, AppRole from VAULT_ROLE_ID/VAULT_SECRET_ID, or a
    root-only ``token_file``; TLS is always verified, against ``ca_file`` when given)."""

    backend: Literal["keyring", "vault"] = "keyring"
    address: str | None = None
    mount: str = Field("secret", pattern=r"^[A-Za-z0-9][A-Za-z0-9_/-]*$")
    path: str = Field("keyturn/{client}", pattern=r"^[A-Za-z0-9{][A-Za-z0-9_/.{}-]*$")
    ca_file: str | None = None
    token_file: str | None = None
    approle_mount: str = Field("approle", pattern=r"^[A-Za-z0-9][A-Za-z0-9_/-]*$")
    timeout: float = Field(10.0, gt=0)


class SiteConfig(_Table):
    client: str = Field("default", min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    scope: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    allow_public: bool = False
    store: str | None = None
    discover: DiscoverConfig = Field(default_factory=DiscoverConfig)
    ad: AdConfig = Field(default_factory=AdConfig)
    rotation: RotationConfig = Field(default_factory=RotationConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    dns: DnsConfig = Field(default_factory=DnsConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    lab: LabBinding | None = None
    secrets: SecretsConfig = Field(default_factory=SecretsConfig)

    @field_validator("scope", "exclude")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                parse_network(item)
            except ScopeError as exc:
                raise ValueError(str(exc)) from exc
        return value

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
            check_lab_binding(label, self.lab.model_dump())


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
    try:
        return SiteConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, label, text)) from None


def _apply_environment(raw: dict[str, Any], environ: dict[str, str]) -> None:
    """KEYTURN_SCOPE, KEYTURN_AD_SERVER, KEYTURN_ROTATION_PARALLEL, ...; lists comma-separated."""
    tables = {name for name, field in SiteConfig.model_fields.items() if _is_table(field)}
    for var, value in environ.items():
        if not var.startswith(ENV_PREFIX):
            continue
        key = var[len(ENV_PREFIX) :].lower()
        table = next((t for t in tables if key.startswith(f"{t}_")), None)
        if table is not None:
            model = SiteConfig.model_fields[table].annotation
            field = key[len(table) + 1 :]
            if field in model.model_fields:
                raw.setdefault(table, {})[field] = _coerce(model.model_fields[field], value)
        elif key in SiteConfig.model_fields and key not in tables:
            raw[key] = _coerce(SiteConfig.model_fields[key], value)


def _is_table(field: Any) -> bool:
    return isinstance(field.annotation, type) and issubclass(field.annotation, _Table)


def _coerce(field: Any, value: str) -> Any:
    if "list" in str(field.annotation):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _describe(exc: ValidationError, label: str, text: str) -> str:
    """One line naming the first bad key, its table and, when found, its line."""
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    keys = [part for part in loc if not part.isdigit()]
    dotted = ".".join(keys)
    line = _find_line(text, keys)
    where = f"{label}:{line}" if line else label
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key '{dotted}'"
    if error["type"] == "missing":
        return f"{where}: missing key '{dotted}'"
    message = re.sub(r"^Value error, ", "", error["msg"])
    return f"{where}: bad value for '{dotted}': {message}"


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
