"""RE Manager and its document proxy on this machine: ``python -m controller.execution.queueserver serve``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
import zmq
from core import ConfigError, SDLError
from controller.config.queueserver import DEFAULT_CONTROL, DEFAULT_DATA, DEFAULT_DATA_IN, DEFAULT_INFO, DEFAULT_REDIS, address_issue
from controller.execution.queueserver.client import REDIS_PREFIX, QueueServerError, QueueServerUnavailable, campaign_line_settings

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
@dataclass
class LocalQueueServer:
    """A 0MQ document proxy (thread) and RE Manager (subprocess) with the project's profile.

    Redis is a service of its own: it must already answer at ``redis``.

    Args:
        control: RE Manager's control address (``tcp://*:60615`` serves other hosts).
        info: RE Manager's info address (console output).
        data_in, data_out: the document proxy's input (the profile publishes there) and output
            (controllers subscribe there); port 0 picks a free port (see :attr:`data_out`).
        redis: Redis address ``host:port``.
        lists_dir: where RE Manager keeps the generated list of plans and devices, its log and
            the line settings file.
        line_settings: a settings record the profile starts with (``$SDL_LINE_SETTINGS``).
        start_proxy: False when a proxy already runs (e.g. ``bluesky-0MQ-proxy 5567 5568``).
    """

    control: str = DEFAULT_CONTROL
    info: str = DEFAULT_INFO
    data_in: str = DEFAULT_DATA_IN
    data_out: str = DEFAULT_DATA
    redis: str = DEFAULT_REDIS
    lists_dir: str | Path = "runs/qserver"
    line_settings: dict[str, Any] | None = None
    start_proxy: bool = True

    def __post_init__(self) -> None:
        self._open_requested = False
        self._proxy = None
        self._process: subprocess.Popen | None = None
        self._log_file = None

    @property
    def log_path(self) -> Path:
        return Path(self.lists_dir) / "re_manager.log"

    def start(self, timeout_s: float = 60.0, open_environment: bool = False) -> LocalQueueServer:
        """Start the proxy and RE Manager; return once RE Manager answers (and, with
        ``open_environment``, once its worker environment is open, so the first plan need not wait).

        Raises:
            QueueServerUnavailable: Redis does not answer, or RE Manager did not come up (its log's tail).
        """
        from bluesky_queueserver_api.zmq import REManagerAPI

        from controller.execution.proxy import StreamProxy
        from devices.qserver_profile import PERMISSIONS_FILE, STARTUP_MODULE

        _check_redis(self.redis)
        probe = self.control.replace("*", "127.0.0.1")
        api = REManagerAPI(zmq_control_addr=probe, timeout_recv=1.0, timeout_send=0.5)
        try:
            other = api.status(reload=True)
        except Exception:  # noqa: BLE001 - nothing answers there: the address is free for ours
            other = None
        if other is not None:
            api.close()
            raise QueueServerError(f"an RE Manager ({other.get('msg')}) already answers at {probe}; stop it or "
                                   "give another --control address")
        lists = Path(self.lists_dir)
        lists.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        if self.start_proxy:
            try:
                self._proxy = StreamProxy(self.data_in, self.data_out)
            except zmq.ZMQError as err:
                api.close()
                raise QueueServerError(f"cannot bind the document proxy on {self.data_in} / {self.data_out}: {err}; "
                                       "give other --data-in/--data-out, or --no-proxy if one runs there") from err
            self.data_in, self.data_out = self._proxy.proxy_in, self._proxy.proxy_out
        env["SDL_QSERVER_PUBLISH"] = self.data_in.replace("*", "127.0.0.1")
        if self.line_settings is not None:
            path = lists / "line_settings.json"
            path.write_text(json.dumps(self.line_settings, indent=1))
            env["SDL_LINE_SETTINGS"] = str(path.resolve())
        command = [*re_manager_command(),
                   "--startup-module", STARTUP_MODULE,
                   "--user-group-permissions", str(PERMISSIONS_FILE),
                   "--existing-plans-devices", str((lists / "existing_plans_and_devices.yaml").resolve()),
                   "--redis-addr", self.redis, "--redis-name-prefix", REDIS_PREFIX,
                   "--zmq-control-addr", self.control, "--zmq-info-addr", self.info]
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in close()
        # Ctrl-C (SIGINT to its process group) is how RE Manager shuts down cleanly; a shell that
        # started us in the background ignores SIGINT, and children would inherit that.
        self._process = subprocess.Popen(command, stdout=self._log_file, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True,
                                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = asked = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    break
                try:
                    status = api.status(reload=True)
                except Exception:  # noqa: BLE001 - not up yet
                    time.sleep(0.3)
                    continue
                if not open_environment or status.get("worker_environment_exists"):
                    return self
                if status.get("manager_state") == "idle":
                    if self._open_requested and time.monotonic() - asked > 1.0:
                        break  # it was asked, went idle, and has no environment: the startup code failed
                    if not self._open_requested:
                        api.environment_open()
                        self._open_requested, asked = True, time.monotonic()
                time.sleep(0.3)
        finally:
            api.close()
        tail = self.log_path.read_text(errors="replace")[-2000:]
        self.close()
        what = "open its worker environment" if self._open_requested else "answer"
        raise QueueServerUnavailable(f"RE Manager did not {what} at {probe} within {timeout_s:g} s; "
                                     f"its log ({self.log_path}) ends:\n{tail}")

    def close(self) -> None:
        """Stop RE Manager (SIGINT, then SIGKILL after 15 s) and the proxy."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGINT)
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(timeout=5)
        self._process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._proxy is not None:
            self._proxy.close()
            self._proxy = None

    def wait(self) -> int:
        """Block until RE Manager exits; its exit status."""
        return self._process.wait() if self._process is not None else 0

    def __enter__(self) -> LocalQueueServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

def re_manager_command() -> list[str]:
    beside = Path(sys.executable).with_name("start-re-manager")
    found = str(beside) if beside.exists() else shutil.which("start-re-manager")
    if found is None:
        raise QueueServerError("start-re-manager is not installed; `pip install bluesky-queueserver`")
    return [found]

def _check_redis(address: str) -> None:
    host, _, port = address.partition(":")
    port = (port.split("/")[0] or "6379")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=2) as conn:
            conn.sendall(b"PING\r\n")
            if not conn.recv(16).startswith(b"+PONG"):
                raise OSError("no PONG")
    except (OSError, ValueError) as err:
        raise QueueServerUnavailable(
            f"Redis does not answer at {address} ({err}); RE Manager keeps its queue there. Start it with "
            f"`redis-server --port {port} --daemonize yes` (Debian package redis-server)") from err

# ---------------------------------------------------------------------------------------------
def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m controller.execution.queueserver",
                                     description="RE Manager with the synthesis line's startup profile")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start a 0MQ document proxy and RE Manager; Ctrl-C stops both")
    serve.add_argument("--config", help="campaign file whose [devices] the line starts with (the controller "
                                        "configures it anyway) and whose qserver_control/qserver_data are used")
    serve.add_argument("--control", help=f"RE Manager's control address (default {DEFAULT_CONTROL}; "
                                          "tcp://*:60615 for other hosts)")
    serve.add_argument("--info", default=DEFAULT_INFO, help=f"RE Manager's info address (default {DEFAULT_INFO})")
    serve.add_argument("--data-in", default=DEFAULT_DATA_IN, help="document proxy input (the profile publishes here)")
    serve.add_argument("--data-out", help=f"document proxy output (default {DEFAULT_DATA})")
    serve.add_argument("--no-proxy", action="store_true", help="a 0MQ proxy already runs at --data-in/--data-out")
    serve.add_argument("--redis", default=DEFAULT_REDIS, help=f"Redis address (default {DEFAULT_REDIS})")
    serve.add_argument("--lists-dir", default="runs/qserver",
                       help="RE Manager's list of plans and devices, log and line settings (default runs/qserver)")
    settings = sub.add_parser("line-settings", help="print a campaign's line settings as JSON ($SDL_LINE_SETTINGS)")
    settings.add_argument("config")
    return parser

def main(argv: list[str] | None = None) -> int:
    from controller.config.campaign import load_config

    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config) if args.config else None
        if args.command == "line-settings":
            print(json.dumps(campaign_line_settings(config), indent=1))
            return 0
        control = args.control or (config.devices.qserver_control if config else DEFAULT_CONTROL)
        data_out = args.data_out or (config.devices.qserver_data if config else DEFAULT_DATA)
        issues = [issue for issue in (address_issue("--control", control, DEFAULT_CONTROL),
                                      address_issue("--data-in", args.data_in, DEFAULT_DATA_IN),
                                      address_issue("--data-out", data_out, DEFAULT_DATA)) if issue]
        if issues:
            raise ConfigError(issues, source="command line")
        server = LocalQueueServer(control=control, info=args.info, data_in=args.data_in, data_out=data_out,
                                  redis=args.redis, lists_dir=args.lists_dir, start_proxy=not args.no_proxy,
                                  line_settings=campaign_line_settings(config) if config else None)
        server.start(open_environment=True)
    except SDLError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"RE Manager answers at {server.control}; documents: proxy in {server.data_in}, out {server.data_out}; "
          f"log {server.log_path}. Ctrl-C stops it.", flush=True)
    # `kill` (SIGTERM) and Ctrl-C stop RE Manager alike; SIGINT too when a shell started us in the background.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        server.close()
