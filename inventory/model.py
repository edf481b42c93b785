"""One shape of a discovered host: :class:`Host` with its :class:`Port` list.

Discovery fills it in; the run's JSON document holds ``Host.to_json()``; the store's
``host_observations`` and ``services`` rows are written from it and read back into it
(:class:`Observation` adds the store's identity); reports and diffs read only this shape.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class Port:
    port: int
    proto: str = "tcp"
    state: str = "open"
    service: str | None = None
    product: str | None = None
    version: str | None = None


@dataclass
class Host:
    ip: str
    mac: str | None = None
    vendor: str | None = None
    mac_randomized: bool = False
    hostnames: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    ports: list[Port] = field(default_factory=list)
    os: dict[str, Any] | None = None
    snmp: dict[str, str | None] | None = None
    http_title: str | None = None
    device_class: str = "unknown"
    platform: str | None = None
    platform_confidence: float | None = None
    rule: str | None = None
    evidence: list[str] = field(default_factory=list)  # what the deciding rules looked at
    oid_vendor: str | None = None  # IANA organisation of the SNMP sysObjectID's enterprise
    model: str | None = None  # ENTITY-MIB model name, where the agent gives one

    def add_source(self, source: str) -> None:
        if source not in self.sources:
            self.sources.append(source)

    def add_hostname(self, name: str) -> None:
        name = name.rstrip(".")
        if name and name not in self.hostnames:
            self.hostnames.append(name)

    def open_ports(self, proto: str = "tcp") -> set[int]:
        return {p.port for p in self.ports if p.proto == proto and p.state == "open"}

    def to_json(self) -> dict[str, Any]:
        """The run document's host dict (discover --json, run_documents): what ``asdict``
        gives, built by hand because asdict's deep copy was most of the cost of a /16's
        document. Every list and dict is a copy, as asdict's are."""
        data = {name: getattr(self, name) for name in _HOST_FIELDS}
        for name in ("hostnames", "sources", "evidence"):
            data[name] = list(data[name])
        for name in ("os", "snmp"):
            if data[name] is not None:
                data[name] = copy.deepcopy(data[name])
        ports = sorted(self.ports, key=lambda p: (p.proto, p.port))
        data["ports"] = [{name: getattr(p, name) for name in _PORT_FIELDS} for p in ports]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Host:
        """A document's host dict back into a Host (unknown keys are ignored: an older or
        newer document still reads)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["ports"] = [
            Port(**{k: v for k, v in p.items() if k in Port.__dataclass_fields__})
            for p in data.get("ports") or []
        ]
        return cls(**known)

    def open_port_list(self) -> list[Port]:
        return [p for p in self.ports if p.state == "open"]


_HOST_FIELDS = tuple(f.name for f in fields(Host))
_PORT_FIELDS = tuple(f.name for f in fields(Port))


@dataclass(frozen=True)
class Observation:
    """A host as one discover run recorded it, with the store's identity for that device
    (``host_id``: by MAC where known, else by address) and the run that first saw it."""

    host: Host
    host_id: int
    first_run: int | None = None
