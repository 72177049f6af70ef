"""``sdl new system NAME [--dir PATH]``: write a material-system plugin package that runs as written.

The package (``PATH/NAME/``) declares a ``core.system.MaterialSystem`` with two simulator
fidelities and a robot line on simulated twins, a dry-run campaign and its own tests; see
the README it carries. Bad input (a NAME that breaks the rule, a target that exists and is
not empty) is one line and exit status 2, and nothing is written.
"""

from __future__ import annotations

from pathlib import Path

from controller.ui.scaffold import NAME_RULE, SYSTEM_FILES, write_system


def register(sub) -> None:
    """Add this group's commands to ``sdl``."""
    new = sub.add_parser("new", help="write the skeleton of a plugin package: sdl new system NAME")
    kinds = new.add_subparsers(dest="new_command", required=True)
    system = kinds.add_parser("system", help="a material-system package: declaration, simulators, line, plan, "
                                             "dry-run campaign, tests")
    system.add_argument("name", metavar="NAME", help=f"the package (and system) name: {NAME_RULE}")
    system.add_argument("--dir", default=".", metavar="PATH", help="where to put the package folder NAME/ "
                                                                   "(default: here)")
    system.set_defaults(func=cmd_system)


def cmd_system(args) -> int:
    target = write_system(args.name, Path(args.dir))
    name = args.name
    print(f"wrote {target}/ ({len(SYSTEM_FILES)} files): the {name} system, its simulators, line, plan, "
          "dry-run campaign and tests")
    print("next:")
    print(f"  pip install --no-build-isolation -e {target}")
    print(f"  python -m pytest {target / 'tests'}")
    print(f"  sdl run {target / 'configs' / f'{name}_dryrun.toml'}")
    print(f"then fill LabFurnace / LabCharacterizer in {target / name / 'line.py'} for real instruments "
          f"(see {target / 'README.md'})")
    return 0
