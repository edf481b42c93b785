"""Platform name (netmiko device_type) -> driver class: the one registry of platforms.

It is built from this package: every module's Driver subclass that names its own
``platform`` is registered (family bases such as ``cisco`` and ``ssh`` name none). Adding a
platform is a module here (and a simulator personality for the tests); nothing else lists
platforms. The scan runs when a platform is first asked for (driver modules import no
transport library at import time), so the CLI's --help stays light.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from agent.core.errors import UsageError

if TYPE_CHECKING:
    from rotation.contract import Driver


class _Registry(Mapping[str, "type[Driver]"]):
    def __init__(self) -> None:
        self._drivers: dict[str, type[Driver]] = {}
        # Platform -> its telnet driver: used only when a target asks for telnet.
        self._telnet: dict[str, type[Driver]] = {}
        self._scanned = False
        self._lock = threading.Lock()

    def _load(self) -> dict[str, type[Driver]]:
        with self._lock:
            if not self._scanned:
                from rotation.contract import Driver

                for module_info in pkgutil.iter_modules(__path__):
                    module = importlib.import_module(f"{__name__}.{module_info.name}")
                    for _, cls in inspect.getmembers(module, inspect.isclass):
                        if (
                            issubclass(cls, Driver)
                            and cls.__module__ == module.__name__
                            and cls.__dict__.get("platform")
                        ):
                            table = self._telnet if cls.transport == "telnet" else self._drivers
                            table.setdefault(cls.platform, cls)
                self._scanned = True
        return self._drivers

    def telnet(self) -> dict[str, type[Driver]]:
        """Platform -> the driver that rotates it over telnet (few platforms have one)."""
        self._load()
        return self._telnet

    def __getitem__(self, platform: str) -> type[Driver]:
        return self._load()[platform]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._load()))

    def __len__(self) -> int:
        return len(self._load())

    def register(self, driver: type[Driver]) -> None:
        """Add a driver from outside this package (a test double, a plugin)."""
        self._load()[driver.platform] = driver

    def unregister(self, platform: str) -> None:
        self._load().pop(platform, None)


DRIVERS = _Registry()


def driver_for(platform: str, transport: str = "ssh") -> type[Driver]:
    """The driver class for ``platform`` (over ``transport``); UsageError listing the valid
    names otherwise."""
    if transport == "telnet":
        telnet = DRIVERS.telnet()
        if platform not in telnet:
            raise UsageError(
                f"no telnet driver for platform {platform!r}; telnet: {', '.join(sorted(telnet))}"
            )
        return telnet[platform]
    try:
        return DRIVERS[platform]
    except KeyError:
        raise UsageError(
            f"no rotation driver for platform {platform!r}; valid: {', '.join(DRIVERS)}"
        ) from None
