"""``sdl explain`` and ``sdl backtest``: why the model suggests what it does, and how strategies compare on a recorded table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from controller.records.opening import open_store
from controller.ui.cli.common import STORE_HELP


def register(sub) -> None:
    """Add this group's commands to ``sdl``."""
    backtest = sub.add_parser("backtest", help="run the campaign's strategy and baselines against its recorded table")
    backtest.add_argument("config", help="campaign file with a [backtest] section (see README.md, Backtesting on recorded data)")
    backtest.add_argument("--seeds", type=int, default=5, help="paired seeds per method (default 5)")
    backtest.add_argument("--output-dir", help="where the CSVs and the plot go (default backtest-out/CAMPAIGN)")
    backtest.add_argument("--methods", nargs="+", metavar="STRATEGY",
                          help="strategies to compare (default: [backtest] methods, else the campaign's, single_fidelity, random)")
    backtest.add_argument("--budget", type=float, help="overrides the campaign's budget (cost units)")
    backtest.add_argument("--mode", choices=["discrete", "continuous"], help="overrides [backtest] mode")
    backtest.add_argument("--quiet", action="store_true", help="no progress lines; print the summary only")
    backtest.set_defaults(func=cmd_backtest)

    explain = sub.add_parser("explain", help="parameter and structure-feature importance, fidelity correlations, "
                                             "and why a sample was suggested")
    explain.add_argument("campaign")
    explain.add_argument("--sample", help="also explain why this sample (id) was suggested")
    explain.add_argument("--json", action="store_true", help="print the explanation as JSON")
    explain.add_argument("--sobol-points", type=int, default=None, metavar="N",
                         help="base sample of the Sobol analysis (default 1024; N x (parameters + 2) model evaluations)")
    explain.add_argument("--store", default=None, help=STORE_HELP)
    explain.set_defaults(func=cmd_explain)


def cmd_backtest(args) -> int:
    """CLI entry: ``sdl backtest CONFIG --seeds N [--output-dir DIR] [--methods ...] [--budget B] [--mode M]``."""
    from controller.analysis.backtest import format_summary, run_backtest
    from controller.config.campaign import load_config

    config = load_config(args.config)
    if args.mode and config.backtest is not None and args.mode != config.backtest.mode:
        import dataclasses

        config = dataclasses.replace(config, backtest=dataclasses.replace(config.backtest, mode=args.mode))
    out = args.output_dir or str(Path("backtest-out") / config.name)

    def say(msg: str) -> None:
        print(msg, file=sys.stderr if args.quiet else sys.stdout, flush=True)

    result = run_backtest(config, args.seeds, methods=args.methods, output_dir=out, budget=args.budget,
                          progress=None if args.quiet else say)
    print(format_summary(config, result.summary, result.thresholds))
    print("wrote " + ", ".join(str(f) for f in result.files))
    return 0


def cmd_explain(args) -> int:
    """``sdl explain CAMPAIGN [--sample ID] [--json] [--store PATH]``."""
    from controller.analysis.explain import explain_campaign
    from controller.ui.console import warn_if_broken
    from controller.ui.explain_view import render

    store = open_store(args.store)
    store.campaign(args.campaign)  # raises with the known names if absent
    warn_if_broken(store, args.campaign, "explain")
    result = explain_campaign(store, args.campaign, sample_id=args.sample, n_sobol=args.sobol_points)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        render(result)
    return 0
