"""Opening the keyring backend keyring's own configuration selects: plaintext or absent
backends refused, the encrypted file unlocked from the environment or a root-only file, never
a prompt where nobody can answer. And the errors of the secret store (agent/core/
secret_store.py re-exports them).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from agent.core.errors import EXIT_USAGE, OperationFailed
from agent.core.terminal import stdin_is_terminal

CRYPTFILE_PASSWORD_ENV = "KEYRING_CRYPTFILE_PASSWORD"  # noqa: S105 (a variable name)
CRYPTFILE_PASSWORD_FILE_ENV = "KEYTURN_KEYRING_PASSWORD_FILE"  # noqa: S105

# Backends that store secrets readable by anyone who can read the file, or none at all.
_PLAINTEXT_BACKENDS = ("PlaintextKeyring", "fail.Keyring", "null.Keyring")
# Backends that can only be unlocked by asking at the terminal (getpass), never from the
# environment: refused when nobody is there to answer.
_PROMPTING_BACKENDS = ("file.EncryptedKeyring",)

HEADLESS_HELP = (
    "On a headless jump host use the encrypted file backend: "
    "export PYTHON_KEYRING_BACKEND=keyrings.cryptfile.cryptfile.CryptFileKeyring and "
    f"{CRYPTFILE_PASSWORD_ENV} (or {CRYPTFILE_PASSWORD_FILE_ENV}=a root-only file); "
    "see docs/jump-host.md"
)
LOCKED_HELP = (
    "the encrypted keyring is locked and nobody is at a terminal to unlock it: set "
    f"{CRYPTFILE_PASSWORD_ENV}, or {CRYPTFILE_PASSWORD_FILE_ENV}=a root-only (0600) file "
    "holding the password; see docs/jump-host.md"
)


class SecretStoreError(OperationFailed):
    """The keyring could not be read or written; nothing was changed on any device."""


class KeyringSetupError(SecretStoreError):
    """The keyring is not configured for this run (plaintext, absent, or it would prompt
    where nobody can answer): a setting to fix, so a usage error (exit 2)."""

    exit_code = EXIT_USAGE


def open_backend(*, interactive: bool = False):
    """The keyring backend keyring's own configuration selects, refusing plaintext ones.

    keyring may select a chain of backends (ChainerBackend): each one in it is checked, since
    a read that misses in the first falls through to the next - a plaintext file in the chain
    is refused as if it were selected alone. The encrypted-file backend is unlocked from
    KEYRING_CRYPTFILE_PASSWORD or a root-only password file; it prompts only when
    ``interactive`` (a scheduled run must never hang, and must never print a prompt).
    """
    import keyring

    backend = keyring.get_keyring()
    candidates = list(getattr(backend, "backends", [backend]))
    names = [backend_name(b) for b in candidates]
    plaintext = [n for n in names if n.endswith(_PLAINTEXT_BACKENDS)]
    if not candidates or plaintext:
        found = f" (keyring's chain includes {', '.join(plaintext)})" if plaintext else ""
        raise KeyringSetupError(f"no usable keyring backend: plaintext or none{found}. "
                                + HEADLESS_HELP)  # fmt: skip
    if not interactive:
        prompting = [n for n in names if n.endswith(_PROMPTING_BACKENDS)]
        if prompting:
            raise KeyringSetupError(
                f"keyring's backends include {', '.join(prompting)}, which can only ask at a "
                f"terminal. {HEADLESS_HELP}"
            )
        _refuse_prompts()
    for candidate in candidates:
        if any(cls.__name__ == "CryptFileKeyring" for cls in type(candidate).__mro__):
            _unlock_cryptfile(candidate, interactive=interactive)
    return backend


def backend_name(backend) -> str:
    """module.Class of a keyring backend (``doctor`` shows every one of a chain)."""
    return f"{type(backend).__module__}.{type(backend).__name__}"


def _refuse_prompts() -> None:
    """No keyring backend may ask at the terminal in a run nobody attends: getpass reads
    /dev/tty even with stdin closed, so a prompt would hang a timer or print into a log."""
    import getpass

    def refuse(prompt: str = "", stream=None) -> str:
        raise KeyringSetupError(LOCKED_HELP)

    getpass.getpass = refuse


def _unlock_cryptfile(backend, *, interactive: bool) -> None:
    password = os.environ.get(CRYPTFILE_PASSWORD_ENV)
    password_file = os.environ.get(CRYPTFILE_PASSWORD_FILE_ENV)
    if password is None and password_file:
        path = Path(password_file)
        try:
            mode = path.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise KeyringSetupError(f"{path} must be readable by its owner only (chmod 600)")
            password = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise KeyringSetupError(f"cannot read {path}: {exc.strerror}") from None
    if password is None:
        if not (interactive and stdin_is_terminal()):
            raise KeyringSetupError(LOCKED_HELP)
        return  # the backend prompts on first use
    if not password.strip():
        raise KeyringSetupError(f"{CRYPTFILE_PASSWORD_ENV} is empty")
    try:
        backend.keyring_key = password
    except ValueError:
        raise SecretStoreError("the encrypted keyring refused the password it was given") from None
