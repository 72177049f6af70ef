"""``sdl serve`` and ``sdl report``: the web dashboard and the HTML report."""

from __future__ import annotations

from controller.records.location import default_store, store_target
from controller.records.opening import open_store
from controller.ui.cli.common import STORE_HELP


def register(sub) -> None:
    """Add this group's commands to ``sdl``."""
    serve = sub.add_parser("serve", help="web dashboard: watch campaigns, pause/resume/stop, approve robot runs")
    serve.add_argument("--store", default=None, help=STORE_HELP)
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: localhost only)")
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    serve.set_defaults(func=cmd_serve)

    report = sub.add_parser("report", help="write a self-contained HTML report of a campaign")
    report.add_argument("campaign")
    report.add_argument("--output", required=True, help="the HTML file to write, e.g. out/report.html")
    report.add_argument("--store", default=None, help=STORE_HELP)
    report.set_defaults(func=cmd_report)


def cmd_serve(args) -> int:
    from controller.ui.web.app import serve


    target = store_target(args.store or default_store())
    open_store(str(target)).close()  # refuse a missing store before listening
    serve(target, host=args.host, port=args.port)
    return 0


def cmd_report(args) -> int:
    from controller.ui.htmlreport import write_report

    store = open_store(args.store)
    store.campaign(args.campaign)  # raises with the known names if absent
    out = write_report(store, args.campaign, args.output)
    print(f"wrote the report of {args.campaign} to {out}")
    return 0
