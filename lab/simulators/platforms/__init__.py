"""Platform name (netmiko device_type) -> the shell class that simulates its CLI.

Built from this package: every module's Shell subclass that names its own ``platform`` is a
personality (family bases such as ``cisco`` name none). A new platform is a module here;
nothing else lists them.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from lab.simulators.shell import Shell


def _personalities() -> dict[str, type[Shell]]:
    found: dict[str, type[Shell]] = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, Shell)
                and cls.__module__ == module.__name__
                and cls.__dict__.get("platform")
            ):
                found[cls.platform] = cls
    return dict(sorted(found.items()))


PLATFORMS: dict[str, type[Shell]] = _personalities()
