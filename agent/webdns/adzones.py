"""AD-integrated DNS zones read over LDAP, and the ``dnsRecord`` blobs decoded (MS-DNSP 2.3.2.2).

Zone transfer is not the way in: Samba's internal DNS answers AXFR with the SOA alone, and a
Windows DC that allows it is a finding, not a source. The zones live in DomainDnsZones,
ForestDnsZones and the legacy CN=MicrosoftDNS,CN=System container as ``dnsZone`` objects with
one ``dnsNode`` per name. In a record the TTL and the numbers inside MX/SRV/SOA data are
big-endian while the header is little-endian; the timestamp counts hours since 1601-01-01
(0 = a static record, never scavenged).

``read_zones`` takes any object with ``search(base, filter, attributes)`` yielding entries
with ``.dn`` and ``.raw`` (the audit's DirectoryConnection), so this module needs no LDAP code.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

EPOCH_1601 = datetime(1601, 1, 1, tzinfo=UTC)
TYPES = {
    1: "A",
    2: "NS",
    5: "CNAME",
    6: "SOA",
    12: "PTR",
    15: "MX",
    16: "TXT",
    28: "AAAA",
    33: "SRV",
    0: "TOMBSTONE",
}
_HEADER = struct.Struct("<HHBBHI")  # DataLength, Type, Version, Rank, Flags, Serial


class RecordError(ValueError):
    """A dnsRecord value that does not decode (truncated or hostile)."""


def decode_record(blob: bytes) -> dict:
    """One ``dnsRecord`` value -> {type, ttl, timestamp, static, data}."""
    if len(blob) < 24:
        raise RecordError(f"dnsRecord of {len(blob)} bytes is shorter than its header")
    length, rtype, _version, _rank, _flags, serial = _HEADER.unpack_from(blob)
    (ttl,) = struct.unpack_from(">I", blob, 12)
    (stamp,) = struct.unpack_from("<I", blob, 20)
    data = blob[24 : 24 + length]
    if len(data) != length:
        raise RecordError("dnsRecord data shorter than its DataLength")
    name = TYPES.get(rtype, f"TYPE{rtype}")
    return {
        "type": name,
        "ttl": ttl,
        "serial": serial,
        "static": stamp == 0,
        "timestamp": None if stamp == 0 else (EPOCH_1601 + timedelta(hours=stamp)).isoformat(),
        "data": _data(name, data),
    }


def _data(rtype: str, data: bytes) -> str:
    if rtype == "A":
        return str(ipaddress.IPv4Address(data[:4]))
    if rtype == "AAAA":
        return str(ipaddress.IPv6Address(data[:16]))
    if rtype in ("NS", "CNAME", "PTR"):
        return _count_name(data, 0)[0]
    if rtype == "MX":
        (preference,) = struct.unpack_from(">H", data, 0)
        return f"{preference} {_count_name(data, 2)[0]}"
    if rtype == "SRV":
        priority, weight, port = struct.unpack_from(">HHH", data, 0)
        return f"{priority} {weight} {port} {_count_name(data, 6)[0]}"
    if rtype == "SOA":
        serial, refresh, retry, expire, minimum = struct.unpack_from(">IIIII", data, 0)
        primary, offset = _count_name(data, 20)
        admin, _ = _count_name(data, offset)
        return f"{primary} {admin} {serial} {refresh} {retry} {expire} {minimum}"
    if rtype == "TXT":
        strings, offset = [], 0
        while offset < len(data):
            size = data[offset]
            strings.append(data[offset + 1 : offset + 1 + size].decode("utf-8", "replace"))
            offset += 1 + size
        return " ".join(f'"{s}"' for s in strings)
    return data.hex()


def _count_name(data: bytes, offset: int) -> tuple[str, int]:
    """DNS_COUNT_NAME: total length, label count, then length-prefixed labels."""
    if offset + 2 > len(data):
        raise RecordError("name past the end of the record")
    total, count = data[offset], data[offset + 1]
    position, labels = offset + 2, []
    for _ in range(count):
        size = data[position] if position < len(data) else 0
        labels.append(data[position + 1 : position + 1 + size].decode("ascii", "replace"))
        position += 1 + size
    return ".".join(labels) + ".", offset + 2 + total


def encode_record(rtype: int, data: bytes, ttl: int = 3600, hours: int = 0) -> bytes:
    """The inverse for the record types tests and the lab plant (A, AAAA, TXT)."""
    return (
        _HEADER.pack(len(data), rtype, 5, 0xF0, 0, 1)
        + struct.pack(">I", ttl)
        + struct.pack("<II", 0, hours)
        + data
    )


def hours_since_1601(when: datetime) -> int:
    return int((when - EPOCH_1601).total_seconds() // 3600)


def zone_bases(root_domain_dn: str, default_dn: str) -> list[str]:
    return [
        f"DC=DomainDnsZones,{default_dn}",
        f"DC=ForestDnsZones,{root_domain_dn}",
        f"CN=MicrosoftDNS,CN=System,{default_dn}",
    ]


def read_zones(conn, bases: Iterable[str]) -> list[dict]:
    """Every AD-integrated zone under ``bases`` with its decoded records."""
    zones: dict[str, dict] = {}
    for base in bases:
        for entry in conn.search(
            base, "(objectClass=dnsNode)", ["name", "dnsRecord", "dNSTombstoned"]
        ):
            parts = [p.split("=", 1)[1] for p in entry.dn.split(",")[:2] if "=" in p]
            if len(parts) < 2:
                continue
            node, zone_name = parts
            if zone_name.startswith("..") or zone_name == "RootDNSServers":
                continue  # trust anchors and root hints, not a zone of the client
            zone = zones.setdefault(
                zone_name.lower(),
                {"name": zone_name.lower(), "partition": base.split(",")[0], "records": []},
            )
            if _first(entry.raw.get("dnstombstoned")) == b"TRUE":
                continue
            for blob in entry.raw.get("dnsrecord", []):
                try:
                    record = decode_record(blob)
                except (RecordError, struct.error, ValueError):
                    continue  # a damaged value must not end the audit
                if record["type"] == "TOMBSTONE":
                    continue
                fqdn = zone_name if node == "@" else f"{node}.{zone_name}"
                zone["records"].append({"name": fqdn.lower(), **record})
    return sorted(zones.values(), key=lambda z: z["name"])


def _first(values) -> bytes | None:
    return values[0] if values else None


def judge(
    zones: list[dict], *, now: datetime, aging_days: int, alive: set[str] | None, covered
) -> None:
    """Mark records stale (dynamic, older than the aging window) or pointing at a dead host
    (an address discovery covered and did not find), and list addresses under several names."""
    for zone in zones:
        by_address: dict[str, set[str]] = {}
        for record in zone["records"]:
            if record["timestamp"]:
                age = now - datetime.fromisoformat(record["timestamp"])
                if age > timedelta(days=aging_days):
                    record["stale"] = (
                        f"dynamic {record['type']} {record['data']} last "
                        f"refreshed {age.days} days ago (aging {aging_days} d)"
                    )
            if record["type"] in ("A", "AAAA"):
                by_address.setdefault(record["data"], set()).add(record["name"])
                if alive is not None and covered(record["data"]) and record["data"] not in alive:
                    record["dead"] = f"{record['data']} did not answer the last discovery"
        zone["shared_addresses"] = {
            a: sorted(n) for a, n in sorted(by_address.items()) if len(n) > 1
        }
