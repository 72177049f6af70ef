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
    sdl new system NAME [--dir PATH]   (a material-system plugin package that runs as written)

Project errors end the command with a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys

from controller.ui.cli import analysis, campaigns, new, operators, records, web
from core import SDLError

GROUPS = (campaigns, records, analysis, web, operators, new)  # the order of ``sdl --help``


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sdl", description="Closed-loop self-driving-lab controller")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "speedup", None) is not None and not args.speedup >= 1:
        parser.error(f"--speedup {args.speedup:g}: must be >= 1 (simulated seconds per wall second)")
    if args.command in ("run", "resume"):
        campaigns.stop_on_sigterm()
    try:
        return args.func(args)
    except SDLError as err:
        print(f"sdl {args.command}: error: {err}", file=sys.stderr)
        return 2
    except (OSError, sqlite3.Error) as err:
        print(f"sdl {args.command}: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sdl {args.command}: interrupted", file=sys.stderr)
        return 130
