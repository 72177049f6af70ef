"""``sdl``: run campaigns and read their records.

    sdl run CONFIG.toml [--store PATH] [--speedup X] [--quiet]
    sdl resume CAMPAIGN [--store PATH]
    sdl run ... --stream ; sdl monitor [CAMPAIGN]   (live 0MQ stream and terminal view)
    sdl samples CAMPAIGN [--store PATH]
    sdl history SAMPLE_ID [--store PATH]
    sdl export CAMPAIGN --format csv|parquet --output PATH [--store PATH]
    sdl export CAMPAIGN --documents PATH.jsonl [--store PATH]
    sdl export CAMPAIGN --explain PATH.json [--store PATH]
    sdl explain CAMPAIGN [--sample ID] [--json] [--store PATH]

Project errors end the command with a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from pathlib import Path

from core import SDLError

STORE_HELP = ("record store: a SQLite file or a database URL (postgresql://USER@HOST:PORT/DATABASE); "
              "default: $SDL_STORE or runs/sdl.sqlite")


def default_store() -> str:
    from controller.config.campaign import DEFAULT_STORE

    return os.environ.get("SDL_STORE", DEFAULT_STORE)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sdl", description="Closed-loop self-driving-lab controller")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run (or continue) a campaign from its TOML file")
    run.add_argument("config", help="campaign file, e.g. configs/thermoset_dryrun.toml")
    run.add_argument("--store", help="overrides the campaign file's store")
    run.add_argument("--speedup", type=float, help="simulated-device time runs this many times faster than wall time")
    run.add_argument("--quiet", action="store_true", help="no live progress; print the summary only")
    _stream_options(run)

    resume = sub.add_parser("resume", help="continue a stopped or crashed campaign from its store")
    resume.add_argument("campaign", help="the campaign's name")
    resume.add_argument("--store", default=None, help=STORE_HELP)
    resume.add_argument("--speedup", type=float, help="simulated-device time runs this many times faster than wall time")
    resume.add_argument("--quiet", action="store_true", help="no live progress; print the summary only")
    _stream_options(resume)

    monitor = sub.add_parser("monitor", help="live view of a running campaign (started with `sdl run --stream`)")
    monitor.add_argument("campaign", nargs="?", help="only this campaign (default: whichever runs)")
    monitor.add_argument("--store", default=None, help=STORE_HELP)
    monitor.add_argument("--duration", type=float, default=None, help="exit after this many seconds")

    check = sub.add_parser("check", help="validate a campaign file without running anything")
    check.add_argument("config")

    samples = sub.add_parser("samples", help="list a campaign's samples")
    samples.add_argument("campaign", help="the campaign's name (the `name` field of its file)")
    samples.add_argument("--store", default=None, help=STORE_HELP)

    history = sub.add_parser("history", help="print one sample's Process -> Structure -> Property lineage")
    history.add_argument("sample_id")
    history.add_argument("--store", default=None, help=STORE_HELP)

    export = sub.add_parser("export", help="write a campaign's sample table or its Bluesky documents")
    export.add_argument("campaign")
    export.add_argument("--format", choices=["csv", "parquet"], help="sample table format")
    export.add_argument("--output", help="sample table path")
    export.add_argument("--documents", help="write every Bluesky document of the robot runs to this JSON-lines file")
    export.add_argument("--store", default=None, help=STORE_HELP)
    export.add_argument("--explain", help="also write `sdl explain --json` of the campaign to this JSON file")

    backtest = sub.add_parser("backtest", help="run the campaign's strategy and baselines against its recorded table")
    backtest.add_argument("config", help="campaign file with a [backtest] section, e.g. configs/thermoset_backtest.toml")
    backtest.add_argument("--seeds", type=int, default=5, help="paired seeds per method (default 5)")
    backtest.add_argument("--output-dir", help="where the CSVs and the plot go (default backtest-out/CAMPAIGN)")
    backtest.add_argument("--methods", nargs="+", metavar="STRATEGY",
                          help="strategies to compare (default: [backtest] methods, else the campaign's, single_fidelity, random)")
    backtest.add_argument("--budget", type=float, help="overrides the campaign's budget (cost units)")
    backtest.add_argument("--mode", choices=["discrete", "continuous"], help="overrides [backtest] mode")
    backtest.add_argument("--quiet", action="store_true", help="no progress lines; print the summary only")

    explain = sub.add_parser("explain", help="parameter and structure-feature importance, fidelity correlations, "
                                             "and why a sample was suggested")
    explain.add_argument("campaign")
    explain.add_argument("--sample", help="also explain why this sample (id) was suggested")
    explain.add_argument("--json", action="store_true", help="print the explanation as JSON")
    explain.add_argument("--sobol-points", type=int, default=None, metavar="N",
                         help="base sample of the Sobol analysis (default 1024; N x (parameters + 2) model evaluations)")
    explain.add_argument("--store", default=None, help=STORE_HELP)

    serve = sub.add_parser("serve", help="web dashboard: watch campaigns, pause/resume/stop, approve robot runs")
    serve.add_argument("--store", default=None, help=STORE_HELP)
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: localhost only)")
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765)")

    report = sub.add_parser("report", help="write a self-contained HTML report of a campaign")
    report.add_argument("campaign")
    report.add_argument("--output", required=True, help="the HTML file to write, e.g. out/report.html")
    report.add_argument("--store", default=None, help=STORE_HELP)
    return parser


def _stop_on_sigterm() -> None:
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "speedup", None) is not None and not args.speedup >= 1:
        parser.error(f"--speedup {args.speedup:g}: must be >= 1 (simulated seconds per wall second)")
    if args.command in ("run", "resume"):
        _stop_on_sigterm()
    try:
        return COMMANDS[args.command](args)
    except SDLError as err:
        print(f"sdl {args.command}: error: {err}", file=sys.stderr)
        return 2
    except (OSError, sqlite3.Error) as err:
        print(f"sdl {args.command}: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sdl {args.command}: interrupted", file=sys.stderr)
        return 130


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

    store = _open_store(args.store)
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


def _open_store(path: str | None):
    from controller.records.store import RecordStore, StoreLocation
    from core import StoreError

    path = path or default_store()
    where = StoreLocation.parse(path)
    if where.kind == "sqlite" and not where.path.exists():  # a database server's store is always there
        raise StoreError(f"no record store at {path!r}; run a campaign first or pass --store")
    return RecordStore(path)


def cmd_samples(args) -> int:
    from controller.ui.console import print_samples

    store = _open_store(args.store)
    store.campaign(args.campaign)  # raises with the known names if absent
    print_samples(store, args.campaign)
    return 0


def cmd_history(args) -> int:
    from controller.ui.console import print_history

    store = _open_store(args.store)
    sample = store.sample(args.sample_id)
    labels: dict[str, str] = {}
    raw = json.loads(store.campaign(sample.campaign)["config_json"])
    for spec in (raw.get("parameters") or {}).values():
        if isinstance(spec, dict) and spec.get("type") == "molecule":
            from core.space import canonical_smiles

            labels.update({canonical_smiles(smiles, "parameters"): label for label, smiles in spec["choices"].items()})
    print_history(sample, labels=labels)
    return 0


def cmd_export(args) -> int:
    from controller.config.campaign import config_from_dict
    from controller.records.history import sample_table
    from core import ConfigError, FieldIssue

    if not args.documents and not (args.format and args.output) and not args.explain:
        raise ConfigError(FieldIssue("export", "give --format csv|parquet with --output PATH, --documents PATH.jsonl "
                                               "or --explain PATH.json"))
    store = _open_store(args.store)
    campaign = store.campaign(args.campaign)
    if args.format and args.output:
        try:
            config = config_from_dict(json.loads(campaign["config_json"]))
        except SDLError:
            config = None  # still export, with the stored units
        table = sample_table(config, store.samples(args.campaign))
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        if args.format == "csv":
            table.to_csv(out, index=False)
        else:
            table.to_parquet(out, index=False)
        print(f"wrote {len(table)} samples to {out}")
    if args.documents:
        out = Path(args.documents)
        out.parent.mkdir(parents=True, exist_ok=True)
        n = 0
        with out.open("w", encoding="utf-8") as fh:
            for name, doc in store.campaign_documents(args.campaign):
                fh.write(json.dumps({"name": name, "doc": doc}) + "\n")
                n += 1
        print(f"wrote {n} Bluesky documents to {out}")
    if args.explain:
        from controller.analysis.explain import write_explanation

        print(f"wrote the explanation to {write_explanation(store, args.campaign, args.explain)}")
    return 0


def cmd_serve(args) -> int:
    from controller.ui.web.app import serve

    from controller.records.store import store_target

    target = store_target(args.store or default_store())
    _open_store(str(target)).close()  # refuse a missing store before listening
    serve(target, host=args.host, port=args.port)
    return 0


def cmd_report(args) -> int:
    from controller.ui.htmlreport import write_report

    store = _open_store(args.store)
    store.campaign(args.campaign)  # raises with the known names if absent
    out = write_report(store, args.campaign, args.output)
    print(f"wrote the report of {args.campaign} to {out}")
    return 0


COMMANDS = {
    "run": cmd_run,
    "resume": cmd_resume,
    "check": cmd_check,
    "monitor": cmd_monitor,
    "samples": cmd_samples,
    "history": cmd_history,
    "export": cmd_export,
    "explain": lambda args: __import__("controller.analysis.explain", fromlist=["cmd_explain"]).cmd_explain(args),
    "serve": cmd_serve,
    "report": cmd_report,
    "backtest": lambda args: __import__("controller.analysis.backtest", fromlist=["cmd_backtest"]).cmd_backtest(args),
}


if __name__ == "__main__":
    sys.exit(main())
