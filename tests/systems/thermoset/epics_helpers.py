"""Start the simulated line's IOC (``python -m systems.thermoset.ioc``) in a subprocess on loopback, for tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
START_TIMEOUT = 45.0  # s: the IOC imports ophyd, scipy and pint before it serves


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (CA uses both on the server port)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free port on 127.0.0.1")


def ca_environment(port: int) -> dict[str, str]:
    """Channel Access settings that keep client and server on loopback at ``port``."""
    return {
        "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_CA_ADDR_LIST": "127.0.0.1",
        "EPICS_CA_SERVER_PORT": str(port),
        "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
        "EPICS_CAS_BEACON_ADDR_LIST": "127.0.0.1",
        "EPICS_CAS_INTF_ADDR_LIST": "127.0.0.1",
    }


@contextmanager
def running_ioc(prefix: str, *args: str, speedup: float = 1e5, seed: int = 0) -> Iterator[dict]:
    """Run the IOC until the block ends; sets the CA environment of this process too.

    Yields:
        ``{"port", "prefix", "process", "env", "output"}`` (``output()``: what the IOC printed).
    """
    from caproto.sync.client import read

    port = free_port()
    env = ca_environment(port)
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    command = [sys.executable, "-m", "systems.thermoset.ioc", "--prefix", prefix, "--port", str(port),
               "--interfaces", "127.0.0.1", "--speedup", str(speedup), "--seed", str(seed), *args]
    log = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: a chatty IOC never blocks on it
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                               text=True)

    def output() -> str:
        log.seek(0)
        return log.read()[-4000:]

    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the IOC exited with {process.returncode}: {output()}")
            try:
                read(f"{prefix}TimeScale", timeout=0.5)
                break
            except Exception:  # not serving yet
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the IOC did not serve {prefix}TimeScale within {START_TIMEOUT:g} s: "
                                       f"{output()}") from None
                time.sleep(0.1)
        yield {"port": port, "prefix": prefix, "process": process, "env": env, "output": output}
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
