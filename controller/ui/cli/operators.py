"""``sdl operators add|list|revoke``: who may watch, steer and approve on the dashboard.

Once a store has an operator, ``sdl serve`` authenticates every control request and
approval by the operator's own token and records their name; ``sdl serve --require-login``
also makes reading need a token (any role).
"""

from __future__ import annotations

import time

from controller.records.opening import open_store
from controller.records.operators import ROLES, OperatorError, add_operator, list_operators, revoke_operator
from controller.ui.cli.common import STORE_HELP


def register(sub) -> None:
    """Add this group's commands to ``sdl``."""
    ops = sub.add_parser("operators", help="operators of the dashboard: add (prints a token once), list, revoke")
    actions = ops.add_subparsers(dest="operators_command", required=True)
    add = actions.add_parser("add", help="add an operator with a role; prints their token once")
    add.add_argument("name", help="the operator's name or initials (letters, digits, . _ - @)")
    # The role is checked by the command, not by argparse choices, so bad input gets one line.
    add.add_argument("--role", required=True, help=f"one of {', '.join(ROLES)} (each may do what the ones before it may)")
    add.add_argument("--store", default=None, help=STORE_HELP)
    add.set_defaults(func=cmd_add)
    listing = actions.add_parser("list", help="names, roles, created, revoked (never tokens)")
    listing.add_argument("--store", default=None, help=STORE_HELP)
    listing.set_defaults(func=cmd_list)
    revoke = actions.add_parser("revoke", help="revoke an operator's token for good")
    revoke.add_argument("name")
    revoke.add_argument("--store", default=None, help=STORE_HELP)
    revoke.set_defaults(func=cmd_revoke)


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "-"


def cmd_add(args) -> int:
    if args.role not in ROLES:  # before the store is opened: bad input writes nothing
        raise OperatorError(f"--role {args.role!r}: allowed {list(ROLES)}")
    store = open_store(args.store)
    try:
        token = add_operator(store, args.name, args.role)
    finally:
        store.close()
    print(f"added operator {args.name.strip()} ({args.role}). Their token, shown only now (the store keeps a hash):")
    print(token)
    return 0


def cmd_list(args) -> int:
    store = open_store(args.store)
    try:
        operators = list_operators(store)
    finally:
        store.close()
    if not operators:
        print("no operators: the dashboard uses the shared control token ($SDL_CONTROL_TOKEN or [control] token)")
        return 0
    print(f"{'name':<20} {'role':<9} {'created':<19}  revoked")
    for op in operators:
        print(f"{op.name:<20} {op.role:<9} {_when(op.created):<19}  {_when(op.revoked)}")
    return 0


def cmd_revoke(args) -> int:
    store = open_store(args.store)
    try:
        op = revoke_operator(store, args.name)
    finally:
        store.close()
    print(f"revoked operator {op.name} ({op.role}) at {_when(op.revoked)}")
    return 0
