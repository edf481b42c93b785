"""Helpers a test calls to steer a running simulator through its state directory."""

from __future__ import annotations

from pathlib import Path

import asyncssh

from lab.simulators import state


def set_faults(state_dir: Path | str, **faults: bool | float) -> None:
    """Turn fault switches on (merged into the current set); takes effect at the next command.

    Names: reject_new_password, drop_after_change, fail_save, slow_seconds, refuse_login.
    """
    unknown = set(faults) - state.FAULT_NAMES
    if unknown:
        raise ValueError(f"unknown fault(s) {sorted(unknown)}; valid: {sorted(state.FAULT_NAMES)}")
    current = state.read_faults(Path(state_dir))
    merged = {**current.__dict__, **faults}
    state.write_json(Path(state_dir) / state.FAULTS_FILE, merged)


def clear_faults(state_dir: Path | str) -> None:
    (Path(state_dir) / state.FAULTS_FILE).unlink(missing_ok=True)


def reboot(state_dir: Path | str) -> None:
    """Request a reboot: running config := saved config, open sessions are cut.

    The simulator applies it when it next touches the device: at the next login attempt,
    or at the next command typed in an open session (which is then disconnected).
    """
    (Path(state_dir) / state.REBOOT_FILE).touch()


def saved_users(state_dir: Path | str) -> dict[str, dict]:
    """Users in the saved config: {name: {"hash": crypt hash, "privilege": int, "role": str}}."""
    saved = state.load_saved(Path(state_dir))
    if saved is None:
        return {}
    return {name: dict(user.__dict__) for name, user in saved.users.items()}


def verify_saved_password(state_dir: Path | str, username: str, password: str) -> bool:
    """True when the saved config would let `username` log in with `password`."""
    user = saved_users(state_dir).get(username)
    return user is not None and state.password_matches(user["hash"], password)


def host_key_fingerprint(state_dir: Path | str) -> str:
    """OpenSSH-style 'SHA256:...' fingerprint of the device's pinned host key."""
    key = asyncssh.read_private_key(
        Path(state_dir) / state.HOST_KEY_FILE, unsafe_skip_rsa_key_validation=True
    )
    return key.get_fingerprint("sha256")


def command_log(state_dir: Path | str) -> list[tuple[str, bool]]:
    """(handler or login outcome, changed the device?) for every login and command so far."""
    path = Path(state_dir) / state.COMMAND_LOG
    if not path.exists():
        return []
    entries = []
    for line in path.read_text().splitlines():
        what, _, outcome = line.rpartition(" ")
        entries.append((what, outcome == "changed"))
    return entries
