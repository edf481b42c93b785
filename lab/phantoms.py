"""ARP-only "phantom" hosts for the large lab (placeholder until the BPF responder lands)."""

from __future__ import annotations


def install(lab) -> list[dict]:
    raise NotImplementedError("large lab not built yet")
