"""The shapes discovery produces: one :class:`Host` per live address. They are the
inventory's (inventory/model.py), so the scanner, the store and the reports share one."""

from inventory.model import Host, Port

__all__ = ["Host", "Port"]
