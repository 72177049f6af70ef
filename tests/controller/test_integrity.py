"""Tamper-evident records: every write of a sample or a document is a link of its campaign's
hash chain; ``sdl verify`` names the first record that changed, every read command warns and
``sdl resume`` refuses to fit on changed records (issue 14, item 8).

Tests taking ``store_url`` run on SQLite and, with ``$SDL_TEST_POSTGRES_URL`` set, on PostgreSQL.
"""

import json
import sqlite3
from pathlib import Path

import pytest

from controller.config.campaign import load_config
from controller.records import integrity
from controller.records.samples import ProcessStep, Sample
from controller.records.store import MIGRATIONS, RecordStore
from controller.ui.cli import main
from core import Q_, StoreError
from tests.controller.test_crash_resume import DEFAULT
from tests.controller.test_crash_resume import rows as _rows


def rows(store_url: str, sql: str, *args) -> list[tuple]:
    """Read the store behind its back: a SQLite path or a PostgreSQL URL."""
    return [tuple(r) for r in _rows(store_url if "://" in store_url else Path(store_url), sql, *args)]


def sample(campaign, seq, status="completed", tg=148.2, run_uid=None, cost=1.0):
    return Sample(id=f"{campaign}-{seq:04d}", campaign=campaign, seq=seq, fidelity="closed_form", status=status,
                  cost=cost, recipe={"cure_temperature": Q_(120.0, "degC")},
                  steps=[ProcessStep(name="simulate", device="simulator:closed_form")],
                  properties={"glass_transition_temperature": Q_(tg, "degC")}, run_uid=run_uid,
                  created=float(seq), completed=None if status == "running" else float(seq) + 0.5)


def execute(store_url: str, sql: str, *args) -> None:
    """Change the store behind the controller's back, as someone with SQL access would."""
    if "://" in store_url:
        import psycopg

        with psycopg.connect(store_url, autocommit=True) as con:
            con.execute(sql.replace("?", "%s"), args or None)
        return
    con = sqlite3.connect(store_url)
    with con:
        con.execute(sql, args)
    con.close()


@pytest.fixture
def store(store_url):
    s = RecordStore(store_url)
    s.open_campaign("demo", "fp", "{}", 100.0)
    s.begin_sample(sample("demo", 1, status="running"))
    s.attach_run("demo-0001", "uid-1")
    s.add_document("uid-1", "start", {"uid": "uid-1", "time": 1.0})
    s.add_sample(sample("demo", 1, run_uid="uid-1"), [("stop", {"exit_status": "success"})])
    s.add_sample(sample("demo", 2, tg=139.5))
    yield s
    s.close()


def test_every_write_is_a_link_and_the_chain_verifies(store, store_url):
    report = store.verify_chain("demo")
    assert report.intact, report.line()
    assert report.records == 4  # two samples, two documents
    assert report.links == 6  # begin, attach, document, finish (+ its document), second sample
    links = rows(store_url, "SELECT kind, ref FROM chain WHERE campaign='demo' ORDER BY seq")
    assert [tuple(r) for r in links] == [("sample", "demo-0001"), ("sample", "demo-0001"), ("document", "uid-1/0"),
                                         ("sample", "demo-0001"), ("document", "uid-1/1"), ("sample", "demo-0002")]
    prev = integrity.GENESIS
    for seq, content, prev_hash, digest in rows(store_url, "SELECT seq, content_json, prev_hash, hash FROM chain "
                                                           "WHERE campaign='demo' ORDER BY seq"):
        assert prev_hash == prev and digest == integrity.link_hash(prev, content), f"link {seq}"
        prev = digest


@pytest.mark.parametrize("sql, args, named, differs", [
    pytest.param("UPDATE samples SET record_json = REPLACE(record_json, '148.2', '948.2') WHERE id=?", ("demo-0001",),
                 "sample demo-0001 changed", "148.2 -> 948.2", id="changed-digit"),
    pytest.param("UPDATE samples SET cost = 0 WHERE id=?", ("demo-0002",), "sample demo-0002 changed", "cost: 1.0 -> 0",
                 id="changed-cost"),
    pytest.param("DELETE FROM documents WHERE run_uid=? AND seq=1", ("uid-1",), "document uid-1/1 went missing", "",
                 id="deleted-document"),
    pytest.param("UPDATE documents SET doc_json = ? WHERE run_uid='uid-1' AND seq=0", ('{"uid": "uid-1", "time": 2.0}',),
                 "document uid-1/0 changed", "doc_json.time: 1.0 -> 2.0", id="changed-document"),
    pytest.param("UPDATE chain SET content_json = REPLACE(content_json, '139.5', '139.6') WHERE ref=?", ("demo-0002",),
                 "write 6 (sample demo-0002) was altered", "", id="altered-link"),
    pytest.param("DELETE FROM chain WHERE seq=3 AND campaign=?", ("demo",), "write 3 of the chain went missing", "",
                 id="deleted-link"),
])
def test_a_change_behind_the_stores_back_is_named(store, store_url, sql, args, named, differs):
    execute(store_url, sql, *args)
    report = store.verify_chain("demo")
    assert not report.intact
    assert named in report.problem and differs in report.problem, report.problem


def test_a_sample_written_behind_the_stores_back_is_named(store, store_url):
    row = rows(store_url, "SELECT campaign, seq, fidelity, status, cost, created, record_json FROM samples WHERE id='demo-0002'")[0]
    execute(store_url, "INSERT INTO samples (id, campaign, seq, fidelity, status, cost, created, record_json) "
                       "VALUES (?,?,?,?,?,?,?,?)", "demo-0003", row[0], 3, *row[2:])
    report = store.verify_chain("demo")
    assert report.ref == "sample demo-0003" and "not in the chain" in report.problem


def test_a_store_made_before_the_chain_gets_one_that_verifies(tmp_path):
    from alembic import command
    from alembic.config import Config

    path = tmp_path / "old.sqlite"
    s = RecordStore(path)
    s.open_campaign("demo", "fp", "{}", 100.0)
    s.add_sample(sample("demo", 1, run_uid="uid-1"), [("start", {"uid": "uid-1"}), ("stop", {})])
    s.add_sample(sample("demo", 2))
    engine = s._db.migration_engine()
    with engine.connect() as conn, conn.begin():  # back to revision 0003: no chain, no heartbeat
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
    engine.dispose()
    s.close()
    assert rows(str(path), "SELECT version_num FROM alembic_version") == [("0003",)]
    s = RecordStore(path)  # migrated to 0004 on opening: the chain is computed from what is there
    report = s.verify_chain("demo")
    assert report.intact and report.records == 4, report.line()
    s.add_sample(sample("demo", 3))  # and grows from there
    assert s.verify_chain("demo").links == 5
    s.close()


def test_link_hash_covers_the_previous_hash():
    text = integrity.canonical({"b": 1, "a": [1.5, None]})
    assert text == '{"a":[1.5,null],"b":1}'
    assert integrity.link_hash(integrity.GENESIS, text) != integrity.link_hash("1" * 64, text)


def test_verify_samples_and_resume_on_a_changed_digit(store_url, capsys):
    """148.2 -> 948.2 degC straight in SQL: ``sdl verify`` names the sample (exit 1), ``sdl samples``
    warns in one line, ``sdl resume`` refuses (exit 2, naming the override) and changes nothing."""
    config = load_config(DEFAULT)
    s = RecordStore(store_url)
    s.open_campaign(config.name, config.fingerprint, config.to_json(), config.budget, owner="elsewhere:1")
    s.add_sample(sample(config.name, 1, tg=139.5))
    s.add_sample(sample(config.name, 2, tg=148.2))
    s.finish_campaign(config.name, "stopped", "stopped by the operator")
    s.close()
    name, first = config.name, f"{config.name}-0002"
    assert main(["verify", name, "--store", store_url]) == 0
    assert "chain intact: 2 records" in capsys.readouterr().out

    execute(store_url, "UPDATE samples SET record_json = REPLACE(record_json, '148.2', '948.2') WHERE id=?", first)
    before = rows(store_url, "SELECT status, stop_reason, owner FROM campaigns")
    events = rows(store_url, "SELECT COUNT(*) FROM campaign_events")

    assert main(["verify", name, "--store", store_url]) == 1
    out = capsys.readouterr().out
    assert f"sample {first} changed" in out and "148.2 -> 948.2" in out, out

    assert main(["samples", name, "--store", store_url]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "warning" in err and f"sample {first}" in err, err

    assert main(["history", first, "--store", store_url]) == 0
    assert f"sample {first} changed" in capsys.readouterr().err

    assert main(["resume", name, "--store", store_url, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"sample {first} changed" in err and "--accept-broken-chain" in err and err.count("\n") == 1, err
    assert rows(store_url, "SELECT status, stop_reason, owner FROM campaigns") == before, "a refused resume changed the campaign"
    assert rows(store_url, "SELECT COUNT(*) FROM campaign_events") == events


def test_resume_with_the_override_records_who(store_url, monkeypatch):
    """The override is an event naming who accepted the broken chain (the run itself is not awaited:
    the campaign's budget is already spent, so it ends at once)."""
    config = load_config(DEFAULT)
    s = RecordStore(store_url)
    s.open_campaign(config.name, config.fingerprint, config.to_json(), config.budget)
    import torch
    from optimizers.space import SearchSpace

    space = SearchSpace(config.parameters, config.fidelities, config.objective)
    spent = sample(config.name, 1, cost=config.budget)
    spent.recipe = space.decode(space.from_unit(torch.full((1, len(space.parameters)), 0.5, dtype=torch.double)))[0]
    s.add_sample(spent)
    s.close()
    execute(store_url, "UPDATE samples SET record_json = REPLACE(record_json, '148.2', '948.2')")
    assert main(["resume", config.name, "--store", store_url, "--quiet", "--accept-broken-chain"]) == 0
    found = [json.loads(r[0]) for r in rows(store_url, "SELECT payload_json FROM campaign_events WHERE kind='broken_chain_accepted'")]
    assert len(found) == 1 and "148.2 -> 948.2" in found[0]["problem"] and found[0]["by"], found


def test_bad_lease_timeout_is_one_line(store_url, monkeypatch):
    monkeypatch.setenv("SDL_LEASE_TIMEOUT_S", "-1")
    with pytest.raises(StoreError, match=r"SDL_LEASE_TIMEOUT_S='-1'.*finite number > 0"):
        RecordStore(store_url)
