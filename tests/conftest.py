"""Fixtures every test module may use. Lab fixtures live in tests/lab_fixtures.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.lab_fixtures", "tests.pg_fixtures"]

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
KEYTURN = str(VENV_BIN / "keyturn")
PYTHON = str(VENV_BIN / "python")


def pytest_configure(config: pytest.Config) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        # Per-user state (client locks, default stores) of one worker must not meet another's.
        import tempfile

        os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix=f"keyturn-{worker}-data-")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """How pytest-xdist (scripts/test.sh: -n, --dist loadgroup) shares the work out: every
    test on the shared lab runs in one worker, so the session builds one lab; a module whose
    tests share a module-scoped server (its own Samba DC, Chromium) stays in one worker, so
    the server starts once; every other test goes to whichever worker is free."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if "lab" in item.fixturenames:
            group = "lab"
        elif any(
            defs[-1].scope == "module" for defs in item._fixtureinfo.name2fixturedefs.values()
        ):
            group = item.module.__name__
        else:
            continue
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture
def keyring_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A real encrypted-file keyring in a private folder, selected the way an operator would
    (keyring's standard environment variables), for this process and its subprocesses.
    It is keyrings.cryptfile with a cheap KDF (lab/keyring_backend.py): same code path."""
    import keyring.core

    env = {
        "PYTHON_KEYRING_BACKEND": "lab.keyring_backend.LabCryptFileKeyring",
        "KEYRING_CRYPTFILE_PASSWORD": "test-keyring-unlock",
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    keyring.core.init_backend()
    yield env
    monkeypatch.undo()
    keyring.core.init_backend()


@pytest.fixture
def cli_env(keyring_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Environment for running the keyturn command as a subprocess with its own store."""
    env = dict(os.environ)
    env.update(keyring_env)
    env["KEYTURN_STORE"] = str(tmp_path / "store" / "client.db")
    env["KEYTURN_OPERATOR"] = "tester"
    return env
