"""The allowed import directions between keyturn's packages (docs/architecture.md).

kernel (agent.core) <- inventory <- rotation / agent.discovery / agent.directory
<- use cases (agent.ops, agent.onboard) <- commands (agent.commands, agent.cli).
Reports read the store only. Every import counts, also one inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "inventory", "rotation", "reports", "lab")

# What a use case may import: every domain package, the reports, the site config and the
# AppContext it is handed; never a command (agent.commands, agent.cli) or the lab.
USE_CASE_DEPENDENCIES = (
    "agent.core", "inventory", "rotation", "agent.discovery", "agent.directory", "agent.webdns",
    "agent.topology", "agent.review", "reports", "agent.config", "agent.context", "agent.ops",
    "agent.onboard",
)  # fmt: skip

# Each layer and the keyturn packages it may import (its own always allowed).
LAYERS: dict[str, tuple[str, ...]] = {
    "agent.core": (),
    "inventory": ("agent.core",),
    "rotation": ("agent.core", "inventory"),
    "agent.discovery": ("agent.core", "inventory"),
    "agent.directory": ("agent.core", "inventory"),
    # Web and DNS checks; the LDAP connection for AD zones is handed in by agent/ops/dns.py.
    "agent.webdns": ("agent.core", "inventory"),
    "agent.topology": ("agent.core", "inventory"),
    # Firewall review; device sessions are handed in by the use case, as for topology.
    "agent.review": ("agent.core", "inventory"),
    "reports": ("agent.core", "inventory"),
    # Use cases: one function per job over the domain packages, for commands and onboard.
    "agent.ops": USE_CASE_DEPENDENCIES,
    "agent.onboard": USE_CASE_DEPENDENCIES,
}

# Imports that break the layers today, each to be removed by the restructuring (issue 12).
# The list may only shrink: an entry that no longer occurs fails the test too.
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()


def layer_of(module: str) -> str | None:
    matches = [name for name in LAYERS if module == name or module.startswith(name + ".")]
    return max(matches, key=len) if matches else None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    package = (
        module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    )
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                prefix = ".".join(base)
                module = f"{prefix}.{node.module}" if node.module else prefix
            else:
                module = node.module or ""
            found.add(module)
            # `from agent import config` imports the module agent.config
            found.update(
                f"{module}.{alias.name}"
                for alias in node.names
                if _is_module(f"{module}.{alias.name}")
            )
    return {name for name in found if name.split(".")[0] in PACKAGES}


def violations() -> set[tuple[str, str]]:
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            source = module_name(path)
            layer = layer_of(source)
            if layer is None:
                continue
            allowed = (layer, *LAYERS[layer])
            for target in imported_modules(path):
                if target in ("agent", *PACKAGES):
                    continue  # a package's __init__ (agent's holds only __version__)
                if not any(target == a or target.startswith(a + ".") for a in allowed):
                    found.add((source, target))
    return found


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def test_layers_hold() -> None:
    found = violations()
    new = sorted(found - KNOWN_VIOLATIONS)
    assert not new, "imports against the layers (docs/architecture.md):\n" + "\n".join(
        f"  {source} imports {target}" for source, target in new
    )
    gone = sorted(KNOWN_VIOLATIONS - found)
    assert not gone, f"fixed violations still listed in KNOWN_VIOLATIONS: {gone}"


def test_product_code_never_imports_the_lab() -> None:
    offenders = []
    for package in ("agent", "inventory", "rotation", "reports"):
        for path in (ROOT / package).rglob("*.py"):
            if module_name(path) == "agent.commands.lab":
                continue
            if any(t == "lab" or t.startswith("lab.") for t in imported_modules(path)):
                offenders.append(module_name(path))
    assert not offenders, offenders


@pytest.mark.parametrize(
    ("module", "target", "expected"),
    [
        ("agent.core.scope", "agent.config", True),
        ("inventory.checklist", "rotation.drivers", True),
        ("rotation.engine", "inventory.store", False),
        ("agent.ops.stages", "rotation.engine", False),
        ("agent.ops.rotate", "agent.commands.rotate", True),
        ("agent.onboard", "agent.cli", True),
    ],
)
def test_the_checker_sees_a_forbidden_import(module: str, target: str, expected: bool) -> None:
    layer = layer_of(module)
    allowed = () if layer is None else (layer, *LAYERS[layer])
    forbidden = layer is not None and not any(
        target == a or target.startswith(a + ".") for a in allowed
    )
    assert forbidden is expected
