"""The shared simulated client site: one small lab for the whole pytest session.

Use the ``lab`` fixture (a ``lab.site.Lab``); run tools inside it with ``lab.exec_prefix()``
or ``lab_cli_env`` + ``[*lab.exec_prefix(), KEYTURN, ...]``. Device, Linux and AD passwords are
in the session keyring (``SecretStore(lab.client)``), selected through keyring's environment
variables for this process and its subprocesses; do not combine the lab with the per-test
``keyring_env`` fixture, which swaps in an empty keyring.

Other tests share this lab concurrently. A test that changes it (``lab.add_host``,
``lab.remove_host``, a device password, simulator faults) must restore what it changed before
it ends, e.g. in a ``try/finally`` that removes the host it added or re-adds the one it removed
(``lab.add_host`` takes the same fields as ``lab.topology.HostSpec``).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

LAB_KEYRING_BACKEND = "lab.keyring_backend.LabCryptFileKeyring"


@pytest.fixture(scope="session")
def lab_keyring_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A private encrypted-file keyring for the session (cheap KDF: lab secrets only)."""
    import keyring.core

    base = tmp_path_factory.mktemp("lab-keyring")
    env = {
        "PYTHON_KEYRING_BACKEND": LAB_KEYRING_BACKEND,
        "KEYRING_CRYPTFILE_PASSWORD": "lab-session-keyring-unlock",
        "XDG_DATA_HOME": str(base / "xdg-data"),
        "XDG_CONFIG_HOME": str(base / "xdg-config"),
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        keyring.core.init_backend()
        yield env
    keyring.core.init_backend()


@pytest.fixture(scope="session")
def lab(lab_keyring_env: dict[str, str]):
    """One small lab (with Samba DC and simulators) for the session; removed at the end, and
    the teardown checks that none of its namespaces or processes is left."""
    from lab import netns, state
    from lab.site import Lab

    state.reap_orphans()  # labs of earlier sessions that were killed before their teardown
    # `timeout` and CI runners stop pytest with SIGTERM, which skips every teardown; as a
    # KeyboardInterrupt, pytest still finalises session fixtures, so the lab goes down.
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)
    built = Lab.up("small", owner_bound=True)
    try:
        yield built
    finally:
        if previous is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        namespaces = list(built.state.namespaces)
        processes = list(built.state.processes)
        built.down(forget_secrets=False)
        left_ns = [n for n in namespaces if netns.exists(n)]
        left_proc = [p.pid for p in processes if state.alive(p)]
        assert not left_ns and not left_proc, f"lab left {left_ns} {left_proc}"


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture
def lab_cli_env(lab, lab_keyring_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Environment for running ``keyturn`` against the lab: its site config, the session
    keyring (holding the lab's passwords) and a store of this test's own."""
    env = dict(os.environ)
    env.update(lab_keyring_env)
    env["KEYTURN_CONFIG"] = str(lab.site_config_path)
    env["KEYTURN_STORE"] = str(tmp_path / "store" / "lab.db")
    env["KEYTURN_OPERATOR"] = "tester"
    return env
