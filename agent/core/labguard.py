"""A site config written by ``keyturn lab up`` runs only inside that lab's technician
namespace.

From the root namespace the lab's 198.18.0.0/15 addresses route out through the machine's
real interface: a mistaken ``rotate --dry-run`` there sent SSH attempts to whoever holds those
addresses. keyturn cannot know every network, but it knows its own lab: the config names the
lab and its technician namespace, and this process must be inside it (same namespace inode
as ``/run/netns/<netns>``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from agent.core import procs
from agent.core.errors import ConfigError


def refuse_outside_lab(path: str | Path | None) -> None:
    """Raise ConfigError (exit 2) when ``path`` is a lab's config and this process is not in
    that lab's technician namespace. Cheap (stdlib TOML, one stat): run before any command.
    An unreadable or invalid file is left to the config loader, which reports it."""
    if not path:
        return
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return
    check_lab_binding(str(path), data.get("lab"))


def check_lab_binding(label: str, lab: Any) -> None:
    """``lab`` is the config's [lab] table (None: not a lab's config)."""
    if lab is None:
        return
    lab_id = lab.get("id") if isinstance(lab, dict) else None
    netns = lab.get("technician_netns") if isinstance(lab, dict) else None
    # Fail closed: a malformed [lab] table is as foreign as another lab's.
    if isinstance(netns, str) and "/" not in netns and procs.in_netns(netns):
        return
    raise ConfigError(
        f"{label} belongs to lab {lab_id} and runs only inside it: "
        f"keyturn lab exec --lab {lab_id} -- keyturn ..."
    )
