"""``sdl run``, ``sdl resume``, ``sdl check`` and ``sdl monitor``: start, continue, validate and watch campaigns."""

from __future__ import annotations

import argparse
import json

from controller.records.location import default_store
from controller.records.opening import open_store
from controller.ui.cli.common import STORE_HELP


def register(sub) -> None:
    """Add this group's commands to ``sdl``."""
    run = sub.add_parser("run", help="run (or continue) a campaign from its TOML file")
    run.add_argument("config", help="campaign file, e.g. configs/thermoset_dryrun.toml")
    run.add_argument("--store", help="overrides the campaign file's store")
    run.add_argument("--speedup", type=float, help="simulated-device time runs this many times faster than wall time")
    run.add_argument("--quiet", action="store_true", help="no live progress; print the summary only")
    _stream_options(run)
    run.set_defaults(func=cmd_run)

    resume = sub.add_parser("resume", help="continue a stopped or crashed campaign from its store")
    resume.add_argument("campaign", help="the campaign's name")
    resume.add_argument("--store", default=None, help=STORE_HELP)
    resume.add_argument("--speedup", type=float, help="simulated-device time runs this many times faster than wall time")
    resume.add_argument("--quiet", action="store_true", help="no live progress; print the summary only")
    _stream_options(resume)
    resume.set_defaults(func=cmd_resume)

    monitor = sub.add_parser("monitor", help="live view of a running campaign (started with `sdl run --stream`)")
    monitor.add_argument("campaign", nargs="?", help="only this campaign (default: whichever runs)")
    monitor.add_argument("--store", default=None, help=STORE_HELP)
    monitor.add_argument("--duration", type=float, default=None, help="exit after this many seconds")
    monitor.set_defaults(func=cmd_monitor)

    check = sub.add_parser("check", help="validate a campaign file without running anything")
    check.add_argument("config")
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
    parser.add_argument("--serve", type=int, metavar="PORT", default=None,
                        help="also serve the web dashboard on http://127.0.0.1:PORT/ while the campaign runs")


def _run_with_stream(args, config, runner):
    """Run the campaign, publishing on 0MQ when ``--stream`` is given, serving the dashboard
    when ``--serve PORT`` is."""
    stream = None
    dashboard = None
    if getattr(args, "serve", None) is not None:
        from controller.ui.web.app import BackgroundServer

        dashboard = BackgroundServer(runner.store_path, port=args.serve).start()
        print(f"dashboard: {dashboard.url}/#/c/{config.name}", flush=True)
    if args.stream:
        from controller.ui.stream import CampaignStream, StreamSettings

        stream = CampaignStream(StreamSettings(start_proxy=not args.no_proxy), campaign=config.name)
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
    from controller.config.campaign import load_config
    from controller.ui.console import print_result

    config = load_config(args.config)
    runner = CampaignRunner(config, store_path=args.store, speedup=args.speedup, show_progress=not args.quiet)
    result = _run_with_stream(args, config, runner)
    print_result(config, result)
    return 0 if result.status == "finished" else 1


def cmd_resume(args) -> int:
    from controller.loop.runner import CampaignRunner
    from controller.config.campaign import config_from_dict
    from controller.ui.console import print_result

    store = open_store(args.store)
    raw = json.loads(store.campaign(args.campaign)["config_json"])
    path, location = store.url if store.path is None else str(store.path), store.location
    store.close()
    config = config_from_dict(raw, source=f"{location} (campaign {args.campaign})")
    runner = CampaignRunner(config, store_path=path, speedup=args.speedup, show_progress=not args.quiet)
    result = _run_with_stream(args, config, runner)
    print_result(config, result)
    return 0 if result.status == "finished" else 1


def cmd_monitor(args) -> int:
    from controller.ui.monitor import run_monitor
    from controller.ui.stream import StreamSettings

    return run_monitor(args.campaign, StreamSettings(start_proxy=False), args.store or default_store(),
                       duration_s=args.duration)


def cmd_check(args) -> int:
    from controller.config.campaign import load_config

    config = load_config(args.config)
    print(f"{args.config}: campaign {config.name!r} is valid: {len(config.parameters)} parameters, "
          f"fidelities {[f.name for f in config.fidelities]}, budget {config.budget:g}")
    return 0
