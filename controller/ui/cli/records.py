"""``sdl samples``, ``sdl history``, ``sdl export`` and ``sdl verify``: read a campaign's records
(each warns on stderr when the campaign's hash chain is broken) and check them."""

from __future__ import annotations

import json
from pathlib import Path

from controller.records.opening import open_store
from controller.ui.cli.common import STORE_HELP
from core import SDLError


def register(sub) -> None:
    """Add this group's commands to ``sdl``."""
    samples = sub.add_parser("samples", help="list a campaign's samples")
    samples.add_argument("campaign", help="the campaign's name (the `name` field of its file)")
    samples.add_argument("--store", default=None, help=STORE_HELP)
    samples.set_defaults(func=cmd_samples)

    history = sub.add_parser("history", help="print one sample's Process -> Structure -> Property lineage")
    history.add_argument("sample_id")
    history.add_argument("--store", default=None, help=STORE_HELP)
    history.set_defaults(func=cmd_history)

    export = sub.add_parser("export", help="write a campaign's sample table or its Bluesky documents")
    export.add_argument("campaign")
    export.add_argument("--format", choices=["csv", "parquet"], help="sample table format")
    export.add_argument("--output", help="sample table path")
    export.add_argument("--documents", help="write every Bluesky document of the robot runs to this JSON-lines file")
    export.add_argument("--store", default=None, help=STORE_HELP)
    export.add_argument("--explain", help="also write `sdl explain --json` of the campaign to this JSON file")
    export.set_defaults(func=cmd_export)

    verify = sub.add_parser("verify", help="check a campaign's hash chain: name the first record that changed")
    verify.add_argument("campaign")
    verify.add_argument("--store", default=None, help=STORE_HELP)
    verify.set_defaults(func=cmd_verify)


def cmd_samples(args) -> int:
    from controller.analysis import goals
    from controller.config.campaign import config_from_dict
    from controller.ui.console import print_samples, warn_if_broken

    store = open_store(args.store)
    campaign = store.campaign(args.campaign)  # raises with the known names if absent
    warn_if_broken(store, args.campaign, "samples")
    raw = json.loads(campaign["config_json"])
    config = None
    if goals.raw_multi_goal(raw):  # validating settings loads the system: only when the goals need them
        try:
            config = config_from_dict(raw)
        except SDLError:
            config = None  # still list the samples, without the goals' columns
    marks = view = None
    if goals.multi_goal(config):  # several objectives / outcome constraints: constraints and the front too
        marks = goals.sample_goals(config, store.samples(args.campaign, include_running=True))
        view = goals.goals_view(config, store.samples(args.campaign))
    print_samples(store, args.campaign, goals=marks, view=view)
    return 0


def cmd_history(args) -> int:
    from controller.ui.console import print_history, warn_if_broken

    store = open_store(args.store)
    sample = store.sample(args.sample_id)
    warn_if_broken(store, sample.campaign, "history")
    labels: dict[str, str] = {}
    raw = json.loads(store.campaign(sample.campaign)["config_json"])
    for spec in (raw.get("parameters") or {}).values():
        if isinstance(spec, dict) and spec.get("type") == "molecule":
            from core.space import canonical_smiles

            labels.update({canonical_smiles(smiles, "parameters"): label for label, smiles in spec["choices"].items()})
    print_history(sample, labels=labels)
    return 0


def cmd_export(args) -> int:
    import pandas as pd

    from controller.analysis import goals
    from controller.config.campaign import config_from_dict
    from controller.records.history import sample_table
    from controller.ui.console import warn_if_broken
    from core import ConfigError, FieldIssue

    if not args.documents and not (args.format and args.output) and not args.explain:
        raise ConfigError(FieldIssue("export", "give --format csv|parquet with --output PATH, --documents PATH.jsonl "
                                               "or --explain PATH.json"))
    store = open_store(args.store)
    campaign = store.campaign(args.campaign)
    warn_if_broken(store, args.campaign, "export")
    if args.format and args.output:
        try:
            config = config_from_dict(json.loads(campaign["config_json"]))
        except SDLError:
            config = None  # still export, with the stored units
        samples = store.samples(args.campaign)
        table = sample_table(config, samples)
        goal_columns = goals.goal_columns(config, samples) if config is not None else {}
        if goal_columns and len(table):  # several objectives / outcome constraints: where each sample stands
            extra = pd.DataFrame([goal_columns[i] for i in table["id"]], index=table.index)
            at = table.columns.get_loc("run_uid")
            table = pd.concat([table.iloc[:, :at], extra, table.iloc[:, at:]], axis=1)
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


def cmd_verify(args) -> int:
    """``sdl verify CAMPAIGN``: exit 0 when the chain is intact, 1 naming the first changed record."""
    store = open_store(args.store)
    try:
        report = store.verify_chain(args.campaign)
    finally:
        store.close()
    print(report.line())
    return 0 if report.intact else 1
