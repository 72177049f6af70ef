"""``sdl run``, ``sdl resume``, ``sdl check``, ``sdl monitor`` and ``sdl stream keys``: start, continue,
validate and watch campaigns."""

from __future__ import annotations

import argparse
import json

from controller.records.location import default_store
from controller.records.opening import open_store
from controller.ui.cli.common import STORE_HELP


def register(sub) -> None:
    """Add this group's commands to ``sdl``."""
    run = sub.add_parser("run", help="run (or continue) a campaign from its TOML file")
    run.add_argument("config", help="campaign file, e.g. configs/CAMPAIGN.toml")
    run.add_argument("--store", help="overrides the campaign file's store")
    run.add_argument("--speedup", type=float, help="simulated-device time runs this many times faster than wall time")
    run.add_argument("--quiet", action="store_true", help="no live progress; print the summary only")
    run.add_argument("--deterministic", action="store_true",
                     help="exact replay: decide at fixed points so two dry runs of the file record the same campaign "
                          "(as [scheduler] deterministic = true)")
    _stream_options(run)
    run.add_argument("--accept-broken-chain", action="store_true",
                     help="continue a campaign whose records' hash chain is broken (recorded as an event; see sdl verify)")
    run.set_defaults(func=cmd_run)

    resume = sub.add_parser("resume", help="continue a stopped or crashed campaign from its store")
    resume.add_argument("campaign", help="the campaign's name")
    resume.add_argument("--store", default=None, help=STORE_HELP)
    resume.add_argument("--speedup", type=float, help="simulated-device time runs this many times faster than wall time")
    resume.add_argument("--quiet", action="store_true", help="no live progress; print the summary only")
    _stream_options(resume)
    resume.add_argument("--accept-broken-chain", action="store_true",
                        help="continue although the records' hash chain is broken (recorded as an event; see sdl verify)")
    resume.set_defaults(func=cmd_resume)

    monitor = sub.add_parser("monitor", help="live view of a running campaign (started with `sdl run --stream`)")
    monitor.add_argument("campaign", nargs="?", help="only this campaign (default: whichever runs)")
    monitor.add_argument("--store", default=None, help=STORE_HELP)
    monitor.add_argument("--duration", type=float, default=None, help="exit after this many seconds")
    _stream_security_options(monitor)
    monitor.set_defaults(func=cmd_monitor)

    stream = sub.add_parser("stream", help="the 0MQ stream's CurveZMQ keys")
    stream_sub = stream.add_subparsers(dest="stream_command", required=True)
    keys = stream_sub.add_parser("keys", help="write the stream's CurveZMQ keys into DIR (existing keys are kept)")
    keys.add_argument("directory", metavar="DIR")
    keys.add_argument("--client", metavar="NAME", default=None,
                      help="add a key pair NAME.key/NAME.key_secret for another host and authorize it")
    keys.set_defaults(func=cmd_stream_keys)

    check = sub.add_parser("check", help="validate a campaign file without running anything")
    check.add_argument("config")
    check.add_argument("--preflight", action="store_true",
                       help="also reach every device of the line and compare its units and drive limits with the "
                            "campaign (what `sdl run` does before a real campaign moves anything)")
    check.set_defaults(func=cmd_check)


def stop_on_sigterm() -> None:
    """SIGTERM (a service manager stopping us) stops the campaign as cleanly as Ctrl-C does."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        def handler(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, handler)


def _stream_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stream", action="store_true",
                        help="publish Bluesky documents and campaign events on 0MQ ($SDL_ZMQ_IN / $SDL_ZMQ_OUT, "
                             "default tcp://127.0.0.1:5577 / 5578) for `sdl monitor` and RemoteDispatcher clients")
    parser.add_argument("--no-proxy", action="store_true", help="with --stream: use a 0MQ proxy that is already running")
    _stream_security_options(parser)
    parser.add_argument("--serve", type=int, metavar="PORT", default=None,
                        help="also serve the web dashboard on http://127.0.0.1:PORT/ while the campaign runs")


def _stream_security_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stream-remote", action="store_true",
                        help="allow stream addresses other than loopback (needs --stream-keys; prints a warning)")
    parser.add_argument("--stream-keys", metavar="DIR", default=None,
                        help="CurveZMQ key directory written by `sdl stream keys DIR` (default $SDL_ZMQ_CURVE_DIR)")


def stream_settings(args, start_proxy: bool):
    """The stream settings the options ask for, validated before anything is written; prints
    the one-line warning when the stream leaves the host.

    Raises:
        ConfigError: a bad, or non-loopback without ``--stream-remote``, address, or unreadable keys.
    """
    import sys

    from controller.ui.stream import StreamSettings

    extra = {"curve_dir": args.stream_keys} if args.stream_keys else {}
    settings = StreamSettings(start_proxy=start_proxy, allow_remote=args.stream_remote, **extra)
    warning = settings.exposure_warning()
    if warning:
        print(warning, file=sys.stderr, flush=True)
    return settings


def _run_with_stream(args, config, runner, settings=None):
    """Run the campaign, publishing on 0MQ with ``settings`` (from :func:`stream_settings`, given
    when ``--stream`` is), serving the dashboard when ``--serve PORT`` is."""
    stream = None
    dashboard = None
    if getattr(args, "serve", None) is not None:
        from controller.ui.web.app import BackgroundServer

        dashboard = BackgroundServer(runner.store_path, port=args.serve).start()
        print(f"dashboard: {dashboard.url}/#/c/{config.name}", flush=True)
    if settings is not None:
        from controller.ui.stream import CampaignStream

        stream = CampaignStream(settings, campaign=config.name)
        stream.attach(runner)
    try:
        return runner.run()
    finally:
        if stream is not None:
            stream.close()
        if dashboard is not None:
            dashboard.stop()


def cmd_run(args) -> int:
    from controller.loop.runner import CampaignRunner
    from controller.config.campaign import config_from_dict, load_config
    from controller.ui.console import print_result

    config = load_config(args.config)
    if args.deterministic:  # into the settings the store keeps, so `sdl resume` replays the same way
        config = config_from_dict({**config.raw, "scheduler": {**config.raw.get("scheduler", {}), "deterministic": True}},
                                  source=config.source)
    settings = stream_settings(args, start_proxy=not args.no_proxy) if args.stream else None  # before the store
    runner = CampaignRunner(config, store_path=args.store, speedup=args.speedup, show_progress=not args.quiet,
                            accept_broken_chain=args.accept_broken_chain)
    result = _run_with_stream(args, config, runner, settings)
    print_result(config, result)
    return 0 if result.status == "finished" else 1


def cmd_resume(args) -> int:
    from controller.loop.runner import CampaignRunner
    from controller.config.campaign import config_from_dict
    from controller.ui.console import print_result

    settings = stream_settings(args, start_proxy=not args.no_proxy) if args.stream else None  # before the store
    store = open_store(args.store)
    raw = json.loads(store.campaign(args.campaign)["config_json"])
    path, location = store.url if store.path is None else str(store.path), store.location
    store.close()
    config = config_from_dict(raw, source=f"{location} (campaign {args.campaign})")
    runner = CampaignRunner(config, store_path=path, speedup=args.speedup, show_progress=not args.quiet,
                            accept_broken_chain=args.accept_broken_chain)
    result = _run_with_stream(args, config, runner, settings)
    print_result(config, result)
    return 0 if result.status == "finished" else 1


def cmd_monitor(args) -> int:
    from controller.ui.monitor import run_monitor

    return run_monitor(args.campaign, stream_settings(args, start_proxy=False), args.store or default_store(),
                       duration_s=args.duration)


def cmd_stream_keys(args) -> int:
    from controller.execution.proxy import create_stream_keys

    written = create_stream_keys(args.directory, client=args.client)
    for path in written:
        print(path)
    if not written:
        print(f"{args.directory}: keys already there; nothing written")
    return 0


def cmd_check(args) -> int:
    from controller.config.campaign import load_config

    config = load_config(args.config)
    print(f"{args.config}: campaign {config.name!r} is valid: {len(config.parameters)} parameters, "
          f"fidelities {[f.name for f in config.fidelities]}, budget {config.budget:g}")
    if args.preflight:
        from controller.execution.preflight import require_preflight

        report = require_preflight(config)  # PreflightError: one line per problem, exit 2
        mode = "dry run" if config.devices.dry_run else "real"
        print(f"pre-flight passed ({mode}): {len(report.checked)} PVs checked" if report.checked
              else "pre-flight: nothing to check (no robot line, or a simulated line)")
    return 0
