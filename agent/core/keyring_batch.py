"""Several keyring entries in one operation.

A file keyring (keyrings.cryptfile) re-parses its whole INI file for every read and parses it
twice and rewrites it for every write: ten devices escrowing at once cost ten rewrites and
forty parses. For that backend family the entries of one batch are encrypted by the backend
itself (its cipher, its associated data) and land in ONE rewrite, which replaces the file
atomically (a crash leaves the old file or the new one, never a truncated one). While no
other writer has touched the file since this process wrote it, the parse of the file is the
config this process wrote it from: a batch edits that instead of parsing again, and its
read-back reads the file's bytes, compares them with what was written and decrypts the
entries. Any other backend (Secret Service, Keychain, a test wrapper) gets one
``set_password`` / ``get_password`` per entry.
"""

from __future__ import annotations

import configparser
import contextlib
import io
import os
import threading
from base64 import decodebytes, encodebytes
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def write_entries(backend: Any, service: str, entries: dict[str, str | None]) -> None:
    """Set every ``name -> value`` (None: delete) of ``entries``; raises what the backend
    raises. Deleting an entry that is not there is not an error."""
    if _file_backend(backend):
        _write_file(backend, service, entries)
        return
    import keyring.errors

    for name, value in entries.items():
        if value is None:
            with contextlib.suppress(keyring.errors.PasswordDeleteError):
                backend.delete_password(service, name)
        else:
            backend.set_password(service, name, value)


def read_entries(backend: Any, service: str, names: Iterable[str]) -> dict[str, str | None]:
    """The value of each name (None when absent); raises what the backend raises."""
    if _file_backend(backend):
        return _read_file(backend, service, names)
    return {name: backend.get_password(service, name) for name in names}


def _file_backend(backend: Any) -> bool:
    """keyrings.cryptfile's file base (CryptFileKeyring and the lab's subclass), once its
    file exists (the backend's own first write initialises scheme and version)."""
    family = any(
        cls.__module__ == "keyrings.cryptfile.file_base" and cls.__name__ == "Keyring"
        for cls in type(backend).__mro__
    )
    return family and os.path.isfile(backend.file_path)


# The file as this process last wrote it: (path, stat identity, parsed config, bytes). A
# batch whose file is still exactly that (no other writer since: same inode, size and
# nanosecond mtime) edits the parsed copy instead of parsing the file again.
_last: dict[str, tuple[tuple[int, int, int], configparser.RawConfigParser, bytes]] = {}


def _identity(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _load(backend: Any) -> configparser.RawConfigParser:
    path = backend.file_path
    known = _last.pop(path, None)  # popped: a failure below must not leave it trusted
    if known is not None and known[0] == _identity(path):
        backend._check_version(known[1])  # (this backend object may not have parsed it)
        return known[1]
    config = configparser.RawConfigParser()
    config.read(path)
    backend._check_version(config)  # sets the file version the associated data depends on
    return config


def _write_file(backend: Any, service: str, entries: dict[str, str | None]) -> None:
    from keyrings.cryptfile.escape import escape

    config = _load(backend)
    section = escape(service)
    for name, value in entries.items():
        key = escape(name)
        if value is None:
            if config.has_section(section):
                config.remove_option(section, key)
            continue
        if not isinstance(value, str):
            raise TypeError("a keyring value is a str")
        encrypted = backend.encrypt(value.encode("utf-8"), backend._generate_assoc(service, name))
        if not config.has_section(section):
            config.add_section(section)
        # The backend's own layout: base64 on its own lines.
        config.set(section, key, "\n" + encodebytes(encrypted).decode())
    text = io.StringIO()
    config.write(text)
    data = text.getvalue().encode("utf-8")
    _replace(Path(backend.file_path), data)
    identity = _identity(backend.file_path)
    if identity is not None:
        _last[backend.file_path] = (identity, config, data)


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` next to ``path`` (0600, never through a symlink), fsync, rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _read_file(backend: Any, service: str, names: Iterable[str]) -> dict[str, str | None]:
    from keyrings.cryptfile.escape import escape

    path = backend.file_path
    known = _last.get(path)
    config = None
    if known is not None and known[0] == _identity(path):
        # Read back the bytes: the very file this process wrote is on disk (its parse is
        # the config they were made from), so the entries are decrypted from that.
        with open(path, "rb") as handle:
            if handle.read() == known[2]:
                config = known[1]
                backend._check_version(config)
    if config is None:
        _last.pop(path, None)
        config = configparser.RawConfigParser()
        config.read(path)
        backend._check_version(config)
    section = escape(service)
    values: dict[str, str | None] = {}
    for name in names:
        try:
            encrypted = decodebytes(config.get(section, escape(name)).encode())
        except (configparser.NoOptionError, configparser.NoSectionError):
            values[name] = None
            continue
        try:
            plain = backend.decrypt(encrypted, backend._generate_assoc(service, name))
        except ValueError:  # written without associated data (what get_password also tries)
            plain = backend.decrypt(encrypted)
        values[name] = plain.decode("utf-8")
    return values
