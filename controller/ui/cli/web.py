"""``sdl serve`` and ``sdl report``: the web dashboard and the HTML report."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from controller.analysis.readmodels import MIN_TOKEN_CHARS, TOKEN_ENV
from controller.records.location import default_store, store_target
from controller.records.opening import open_store
from controller.records.operators import has_operators
from controller.ui.cli.common import STORE_HELP
from core import SDLError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class ServeError(SDLError):
    """`sdl serve` was asked for something it cannot do safely."""


def register(sub) -> None:
    """Add this group's commands to ``sdl``."""
    serve = sub.add_parser("serve", help="web dashboard: watch campaigns, pause/resume/stop, approve robot runs")
    serve.add_argument("--store", default=None, help=STORE_HELP)
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: localhost only)")
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    serve.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                       help="a name browsers reach the dashboard by (the Host header), besides localhost and --host; "
                            "repeatable, e.g. --allowed-host labpc.example.org")
    serve.add_argument("--require-login", action="store_true",
                       help="reading needs an operator's token too (needs operators: sdl operators add)")
    serve.add_argument("--tls-cert", default=None, metavar="PATH", help="serve HTTPS with this certificate (PEM)")
    serve.add_argument("--tls-key", default=None, metavar="PATH", help="the certificate's private key (PEM)")
    serve.set_defaults(func=cmd_serve)

    report = sub.add_parser("report", help="write a self-contained HTML report of a campaign")
    report.add_argument("campaign")
    report.add_argument("--output", required=True, help="the HTML file to write, e.g. out/report.html")
    report.add_argument("--store", default=None, help=STORE_HELP)
    report.set_defaults(func=cmd_report)


def check_serve_options(args) -> None:
    """Refuse unsafe or impossible settings before anything listens.

    Raises:
        ServeError: a shared token shorter than :data:`MIN_TOKEN_CHARS`, only one of the TLS
            paths, or a TLS file that is not there.
    """
    token = os.environ.get(TOKEN_ENV)
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ServeError(f"${TOKEN_ENV}: {len(token)} characters; allowed: at least {MIN_TOKEN_CHARS} "
                         "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    if bool(args.tls_cert) != bool(args.tls_key):
        missing = "--tls-key" if args.tls_cert else "--tls-cert"
        raise ServeError(f"{missing}: required with {'--tls-cert' if args.tls_cert else '--tls-key'} (HTTPS needs both)")
    for option, path in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)):
        if path and not Path(path).is_file():
            raise ServeError(f"{option} {path}: no such file; give the PEM file's path")
    if not 1 <= args.port <= 65535:
        raise ServeError(f"--port {args.port}: allowed 1 to 65535")


def cmd_serve(args) -> int:
    from controller.ui.web.app import serve

    check_serve_options(args)
    target = store_target(args.store or default_store())
    store = open_store(str(target))  # refuse a missing store before listening
    try:
        operators = has_operators(store)
    finally:
        store.close()
    if args.require_login and not operators:
        raise ServeError("--require-login: this store has no operators to log in as; add one first "
                         "(sdl operators add NAME --role viewer)")
    if args.host not in LOOPBACK:
        clear = "" if args.tls_cert else "; without --tls-cert the tokens travel in clear"
        print(f"sdl serve: warning: listening on {args.host}: anyone who can reach this machine on port {args.port} "
              f"can read the campaigns{'' if args.require_login else ' (no --require-login)'}{clear}", file=sys.stderr)
    serve(target, host=args.host, port=args.port, allowed_hosts=tuple(args.allowed_host),
          require_login=args.require_login, tls_cert=args.tls_cert, tls_key=args.tls_key)
    return 0


def cmd_report(args) -> int:
    from controller.ui.htmlreport import write_report

    store = open_store(args.store)
    store.campaign(args.campaign)  # raises with the known names if absent
    from controller.ui.console import warn_if_broken

    warn_if_broken(store, args.campaign, "report")
    out = write_report(store, args.campaign, args.output)
    print(f"wrote the report of {args.campaign} to {out}")
    return 0
