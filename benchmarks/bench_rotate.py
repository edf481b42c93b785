"""Rotation benchmark: 50 simulated devices at --parallel 16 against one device, keyturn's
per-device time against a plain netmiko script (change + save, no escrow, no verification),
and the fleet against a Nornir + nornir-netmiko peer doing only change + save on the same
devices at the same parallelism (`pip install -e .[bench]`).

Everything runs on loopback: one simulator process serves every device on its own
127.3.x.y address. keyturn runs in-process through the same service the CLI calls (store,
audit log, keyring), with the lab's cheap-KDF cryptfile keyring (the production KDF costs
~0.5 s per keyring operation on its own; see docs/rotation.md).

    .venv/bin/python benchmarks/bench_rotate.py [--devices 50] [--parallel 16] [--repeat 3]

Goals: 50 devices <= 2x one device; keyturn per device <= 1.5x the plain script; the fleet
(escrow, change, fresh-login verify, old refused, save) <= 1.0x Nornir's change + save.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

OLD = "Bench-Old-Pass-01"


def _environment(root: Path) -> None:
    os.environ.update(
        {
            "PYTHON_KEYRING_BACKEND": "lab.keyring_backend.LabCryptFileKeyring",
            "KEYRING_CRYPTFILE_PASSWORD": "bench-keyring",
            "XDG_DATA_HOME": str(root / "xdg-data"),
            "XDG_CONFIG_HOME": str(root / "xdg-config"),
            "KEYTURN_OPERATOR": "bench",
        }
    )


def _devices(root: Path, count: int) -> tuple[list[dict], object]:
    import asyncssh

    from lab.simulators import launch
    from tests.rotation_helpers import free_port, loopback

    key = asyncssh.generate_private_key("ssh-rsa", key_size=2048)
    devices = []
    for i in range(count + 1):  # the last one is for the plain script
        host = loopback(i + 1, block=3)
        state = root / f"dev{i}"
        state.mkdir(parents=True)
        key.write_private_key(state / "ssh_host_key")
        devices.append(
            {
                "name": f"dev{i}",
                "platform": "cisco_ios",
                "listen": f"{host}:{free_port(host)}",
                "state_dir": str(state),
                "hostname": f"r{i}",
                "users": {"admin": {"password": OLD}},
                "enable_secret": None,
            }
        )
    proc = launch({"devices": devices}, root / "spec.json")
    return devices, proc


def _targets(devices: list[dict]):
    from rotation.contract import Target

    out = []
    for d in devices:
        host, _, port = d["listen"].rpartition(":")
        out.append(Target(host=host, platform="cisco_ios", username="admin", port=int(port)))
    return out


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of another process so far (the simulator's, from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _keyturn(app, targets, parallel: int, cpu: list | None = None, sim_pid: int = 0) -> float:
    """Wall seconds of one run; appends (keyturn CPU s, simulator CPU s) to ``cpu``."""
    from agent.ops import rotate

    sim_before, own_before = (_cpu_seconds(sim_pid) if sim_pid else 0.0), time.process_time()
    started = time.perf_counter()
    outcome = rotate.rotate(app, targets, parallel=parallel)
    elapsed = time.perf_counter() - started
    if cpu is not None:
        cpu.append((time.process_time() - own_before, _cpu_seconds(sim_pid) - sim_before))
    bad = [r for r in outcome.results if r.status != "rotated"]
    if bad:
        raise SystemExit(f"benchmark rotation failed: {bad[0].status}: {bad[0].error}")
    return elapsed


def _plain_netmiko(device: dict, password: str, new: str) -> float:
    """What an operator's script does: log in, change, save. No escrow, no verification."""
    from netmiko import ConnectHandler

    host, _, port = device["listen"].rpartition(":")
    started = time.perf_counter()
    conn = ConnectHandler(
        device_type="cisco_ios",
        host=host,
        port=int(port),
        username="admin",
        password=password,
        fast_cli=True,
    )
    conn.send_config_set([f"username admin privilege 15 secret {new}"])
    conn.save_config()
    conn.disconnect()
    return time.perf_counter() - started


def _nornir(
    app, targets, parallel: int, run: int, cpu: list | None = None, sim_pid: int = 0
) -> float:
    """Wall seconds of Nornir + nornir-netmiko changing and saving every device's admin
    password (what an operator's Nornir script does: no escrow, no verification). The new
    passwords go to the keyring afterwards, untimed, so keyturn's next run logs in."""
    from nornir.core import Nornir
    from nornir.core.inventory import ConnectionOptions, Defaults, Groups, Host, Hosts, Inventory
    from nornir.core.plugins.connections import ConnectionPluginRegister
    from nornir.plugins.runners import ThreadedRunner
    from nornir_netmiko.tasks import netmiko_save_config, netmiko_send_config

    from agent.core.secret import Secret

    ConnectionPluginRegister.auto_register()  # what InitNornir does: nornir-netmiko's plugin
    hosts, new = {}, {}
    for t in targets:
        name = f"{t.host}:{t.port}"
        new[name] = f"Bench-Nornir-{run:03d}-{t.host.replace('.', '')}"
        hosts[name] = Host(
            name,
            hostname=t.host,
            port=t.port,
            username="admin",
            password=app.secret_store.get(t.host, "admin").reveal(),
            platform="cisco_ios",
            connection_options={"netmiko": ConnectionOptions(extras={"fast_cli": True})},
        )
    nr = Nornir(
        inventory=Inventory(hosts=Hosts(hosts), groups=Groups(), defaults=Defaults()),
        runner=ThreadedRunner(num_workers=parallel),
    )

    def change_and_save(task) -> None:
        task.run(
            netmiko_send_config,
            config_commands=[f"username admin privilege 15 secret {new[task.host.name]}"],
        )
        task.run(netmiko_save_config)

    sim_before, own_before = (_cpu_seconds(sim_pid) if sim_pid else 0.0), time.process_time()
    started = time.perf_counter()
    result = nr.run(task=change_and_save)
    nr.close_connections()
    elapsed = time.perf_counter() - started
    if cpu is not None:
        cpu.append((time.process_time() - own_before, _cpu_seconds(sim_pid) - sim_before))
    if result.failed:
        name = next(iter(result.failed_hosts))
        raise SystemExit(f"nornir run failed on {name}: {result[name].exception}")
    for t in targets:
        app.secret_store.put(
            t.host, "admin", Secret(new[f"{t.host}:{t.port}"]), platform="cisco_ios"
        )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--parallel", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="keyturn-bench-") as tmp:
        root = Path(tmp)
        _environment(root)
        from agent.context import AppContext
        from agent.core.secret import Secret

        devices, sim = _devices(root, args.devices)
        try:
            config = root / "site.toml"
            config.write_text('client = "bench"\nscope = ["127.0.0.0/8"]\n')
            app = AppContext(
                config_path=str(config), store_path=str(root / "bench.db"), non_interactive=True
            )
            targets = _targets(devices[:-1])
            for target in targets:
                app.secret_store.put(target.host, "admin", Secret(OLD), platform="cisco_ios")
            # Warm-up: first contact pins every host key, imports load.
            _keyturn(app, targets, args.parallel)

            single = [_keyturn(app, targets[:1], 1) for _ in range(max(5, args.repeat))]
            cpu: list[tuple[float, float]] = []
            fleet, peer, peer_cpu = [], [], []
            # Alternated, so load from other work on the machine hits both alike.
            for run in range(args.repeat):
                fleet.append(_keyturn(app, targets, args.parallel, cpu, sim.pid))
                peer.append(_nornir(app, targets, args.parallel, run, peer_cpu, sim.pid))
            plain_device, password, plain = devices[-1], OLD, []
            for i in range(max(5, args.repeat)):
                new = f"Bench-Plain-{i:04d}x"
                plain.append(_plain_netmiko(plain_device, password, new))
                password = new
            app.close()
        finally:
            sim.terminate()
            sim.wait()

    one, many, script, nornir = (statistics.median(x) for x in (single, fleet, plain, peer))
    own_cpu = statistics.median(c[0] for c in cpu) / args.devices
    sim_cpu = statistics.median(c[1] for c in cpu) / args.devices
    peer_own = statistics.median(c[0] for c in peer_cpu) / args.devices
    peer_sim = statistics.median(c[1] for c in peer_cpu) / args.devices
    # Two floors no implementation beats: the devices come in waves of --parallel, each at
    # least one device's latency; and keyturn + simulator CPU shared by this machine's cores.
    waves = args.devices / args.parallel
    cpu_floor = (own_cpu + sim_cpu) * args.devices / (os.cpu_count() or 1)
    figures = {
        "devices": args.devices,
        "parallel": args.parallel,
        "one_device_s": round(one, 3),
        "fleet_s": round(many, 3),
        "fleet_over_one": round(many / one, 2),
        "plain_script_per_device_s": round(script, 3),
        "keyturn_over_plain": round(one / script, 2),
        "keyturn_cpu_per_device_s": round(own_cpu, 4),
        "simulator_cpu_per_device_s": round(sim_cpu, 4),
        "floor_waves_over_one": round(waves, 2),
        "floor_cpu_s": round(cpu_floor, 2),
        "nornir_fleet_s": round(nornir, 3),
        "keyturn_over_nornir": round(many / nornir, 2),
        "nornir_cpu_per_device_s": round(peer_own, 4),
        "nornir_simulator_cpu_per_device_s": round(peer_sim, 4),
        "fleet_runs_s": [round(x, 3) for x in fleet],
        "nornir_runs_s": [round(x, 3) for x in peer],
        "goals": {
            "fleet_over_one<=2": many / one <= 2,
            "keyturn_over_plain<=1.5": one / script <= 1.5,
            "keyturn_over_nornir<=1.0": many / nornir <= 1.0,
        },
    }
    print(f"one device (median of {len(single)}):        {one:6.2f} s")
    print(
        f"{args.devices} devices, parallel {args.parallel} (median of {len(fleet)}): "
        f"{many:6.2f} s  = {many / one:.2f}x one device (goal <= 2x)"
    )
    print(
        f"  CPU per device in the fleet: keyturn {own_cpu * 1000:.0f} ms, simulator "
        f"{sim_cpu * 1000:.0f} ms; floors: {waves:.2f}x one device ({args.devices} devices "
        f"in waves of {args.parallel}), {cpu_floor:.2f} s of CPU on {os.cpu_count()} cores"
    )
    print(
        f"plain netmiko change+save (median of {len(plain)}): {script:6.2f} s; keyturn per "
        f"device = {one / script:.2f}x (goal <= 1.5x)"
    )
    print(
        f"Nornir + nornir-netmiko change+save, {args.devices} devices, parallel "
        f"{args.parallel} (median of {len(peer)}): {nornir:6.2f} s; keyturn fleet = "
        f"{many / nornir:.2f}x (goal <= 1.0x)"
    )
    print(f"  CPU per device: Nornir {peer_own * 1000:.0f} ms, simulator {peer_sim * 1000:.0f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
