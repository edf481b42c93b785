"""Where kind ``ad`` accounts are reset: its own module, free of the rotation machinery, so
the checklist (run after every discover) can name the bind account without loading it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DirectoryBinding:
    """Where kind ``ad`` accounts are reset: the ``[ad]`` DC (an address the scope guard can
    check; also the keyring host of every ad credential) and the bind account."""

    host: str
    port: int
    login: str
