"""Operators as identities: `sdl operators add|list|revoke`, and the dashboard authenticating
each operator's own token, checking their role and recording who they are."""

import sqlite3
import tomllib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from controller.config.campaign import config_from_dict
from controller.records.operators import ROLES, OperatorError, add_operator, authenticate, list_operators, revoke_operator
from controller.records.samples import Sample
from controller.records.store import RecordStore
from controller.ui.cli import main
from controller.ui.web.app import create_app
from core import ConfigError

DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "thermoset_dryrun.toml"
SHARED = "shared-bench-token-0123"


def config(name="ops", token=SHARED):
    raw = tomllib.loads(DEFAULT.read_text())
    raw.update(name=name, budget=400)
    raw["control"] = {"approval": ["robot"], **({"token": token} if token else {})}
    return config_from_dict(raw)


def seeded(path, awaiting=2):
    """A running campaign with robot samples waiting at the approval gate (no controller needed)."""
    store = RecordStore(path)
    cfg = config()
    store.open_campaign(cfg.name, cfg.fingerprint, cfg.to_json(), cfg.budget)
    for seq in range(1, awaiting + 1):
        store.begin_sample(Sample(id=f"ops-{seq:04d}", campaign="ops", seq=seq, fidelity="robot", status="awaiting_approval",
                                  cost=40.0, recipe={"cure_temperature": {"value": 120.0, "unit": "degC"}},
                                  suggestion={"reason": "test"}))
    return store


def operator_rows(path):
    with sqlite3.connect(path) as con:
        return con.execute("SELECT name, role, token_hash, created, revoked FROM operators ORDER BY name").fetchall()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_cli_add_list_revoke(tmp_path, capsys):
    path = tmp_path / "s.sqlite"
    RecordStore(path).close()
    assert main(["operators", "add", "ada", "--role", "approver", "--store", str(path)]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    rows = operator_rows(path)
    assert [(r[0], r[1]) for r in rows] == [("ada", "approver")]
    assert token not in repr(rows) and rows[0][2] == __import__("hashlib").sha256(token.encode()).hexdigest()
    assert main(["operators", "add", "vic", "--role", "viewer", "--store", str(path)]) == 0
    capsys.readouterr()
    assert main(["operators", "list", "--store", str(path)]) == 0
    listing = capsys.readouterr().out
    assert "ada" in listing and "approver" in listing and "vic" in listing and "viewer" in listing
    assert token not in listing
    assert main(["operators", "revoke", "vic", "--store", str(path)]) == 0
    assert "revoked operator vic" in capsys.readouterr().out
    assert dict((r[0], r[4]) for r in operator_rows(path))["vic"] is not None


@pytest.mark.parametrize("argv, field", [
    pytest.param(["add", "bob", "--role", "superuser"], "--role", id="unknown-role"),
    pytest.param(["add", "ada", "--role", "viewer"], "name 'ada'", id="duplicate-name"),
    pytest.param(["add", "  ", "--role", "viewer"], "name", id="empty-name"),
    pytest.param(["add", "<img src=x>", "--role", "viewer"], "name", id="markup-name"),
    pytest.param(["revoke", "nobody"], "name 'nobody'", id="revoke-unknown"),
])
def test_cli_bad_input_is_one_line_exit_2_nothing_written(tmp_path, capsys, argv, field):
    path = tmp_path / "s.sqlite"
    store = RecordStore(path)
    add_operator(store, "ada", "admin")
    store.close()
    before = operator_rows(path)
    capsys.readouterr()
    assert main(["operators", *argv, "--store", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and field in err, err
    assert operator_rows(path) == before


def test_store_functions_roles_and_revocation(store_url):
    """On SQLite and PostgreSQL alike (the store's own transactions and placeholders)."""
    store = RecordStore(store_url)
    tokens = {role: add_operator(store, f"op-{role}", role) for role in ROLES}
    assert sorted((o.name, o.role) for o in list_operators(store)) == sorted((f"op-{r}", r) for r in ROLES)
    assert authenticate(store, "not-a-token") is None
    viewer, approver = authenticate(store, tokens["viewer"]), authenticate(store, tokens["approver"])
    assert viewer.name == "op-viewer" and viewer.may("viewer") and not viewer.may("operator")
    assert approver.may("operator") and approver.may("approver") and not approver.may("admin")
    revoked = revoke_operator(store, "op-admin")
    assert revoked.revoked is not None and not authenticate(store, tokens["admin"]).may("viewer")
    with pytest.raises(OperatorError, match="already revoked"):
        revoke_operator(store, "op-admin")
    with pytest.raises(OperatorError, match="exists already"):
        add_operator(store, "op-viewer", "viewer")
    assert len(list_operators(store)) == len(ROLES), "a refused add writes nothing"
    store.close()


def test_viewer_is_refused_and_approver_is_recorded_under_their_identity(tmp_path, monkeypatch):
    monkeypatch.delenv("SDL_CONTROL_TOKEN", raising=False)
    path = tmp_path / "s.sqlite"
    store = seeded(path)
    viewer, approver, operator = (add_operator(store, "vic", "viewer"), add_operator(store, "ada", "approver"),
                                  add_operator(store, "otto", "operator"))
    client = TestClient(create_app(store), base_url="http://localhost")
    url = "/api/campaigns/ops/approvals/ops-0001"
    # the shared token no longer counts once the store has operators
    assert client.post(url, json={"decision": "approve", "operator": "ada"}, headers=bearer(SHARED)).status_code == 401
    assert client.post(url, json={"decision": "approve"}).status_code == 401
    r = client.post(url, json={"decision": "approve"}, headers=bearer(viewer))
    assert r.status_code == 403 and "viewer" in r.json()["detail"]
    r = client.post(url, json={"decision": "approve"}, headers=bearer(operator))
    assert r.status_code == 403 and "approver" in r.json()["detail"]
    r = client.post(url, json={"decision": "approve", "operator": "vic"}, headers=bearer(approver))
    assert r.status_code == 403 and "authenticated as 'ada'" in r.json()["detail"], "a typed name never replaces the identity"
    assert store.decision("ops-0001") is None
    r = client.post(url, json={"decision": "approve", "note": "ok"}, headers=bearer(approver))
    assert r.status_code == 200 and r.json()["operator"] == "ada"
    row = store.decision("ops-0001")
    assert row["operator"] == "ada" and row["decision"] == "approved" and row["note"] == "ok"
    # the same name typed explicitly is accepted
    r = client.post("/api/campaigns/ops/approvals/ops-0002", json={"decision": "reject", "operator": "ada"},
                    headers=bearer(approver))
    assert r.status_code == 200 and store.decision("ops-0002")["operator"] == "ada"
    # control: an operator may pause, a viewer may not; the request is recorded under the identity
    control = "/api/campaigns/ops/control"
    assert client.post(control, json={"action": "pause"}, headers=bearer(viewer)).status_code == 403
    r = client.post(control, json={"action": "pause"}, headers=bearer(operator))
    assert r.status_code == 202 and r.json()["operator"] == "otto"
    assert [(c["action"], c["operator"]) for c in store.controls("ops")] == [("pause", "otto")]
    # a revoked token is refused
    revoke_operator(store, "otto")
    r = client.post(control, json={"action": "resume"}, headers=bearer(operator))
    assert r.status_code == 403 and "revoked" in r.json()["detail"]
    assert client.get("/api/campaigns/ops").json()["auth"] == "operators"


def test_require_login_makes_reading_need_a_token(tmp_path, monkeypatch):
    monkeypatch.delenv("SDL_CONTROL_TOKEN", raising=False)
    path = tmp_path / "s.sqlite"
    store = seeded(path, awaiting=1)
    open_client = TestClient(create_app(store), base_url="http://localhost")
    assert open_client.get("/api/campaigns").status_code == 200, "without operators nothing needs a login"
    viewer = add_operator(store, "vic", "viewer")
    client = TestClient(create_app(store, require_login=True), base_url="http://localhost")
    for url in ("/api/campaigns", "/api/campaigns/ops", "/api/samples/ops-0001", "/api/campaigns/ops/events"):
        assert client.get(url).status_code == 401, url
        assert client.get(url, headers=bearer("wrong")).status_code == 401, url
    assert client.get("/api/campaigns", headers=bearer(viewer)).json()[0]["name"] == "ops"
    assert client.get("/").status_code == 200, "the page itself holds no data"
    assert open_client.get("/api/campaigns").status_code == 200, "reading stays open without --require-login"


def test_serve_require_login_without_operators_exits_2(tmp_path, capsys):
    path = tmp_path / "s.sqlite"
    RecordStore(path).close()
    assert main(["serve", "--store", str(path), "--require-login"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--require-login" in err


def test_shared_token_shorter_than_16_is_refused(tmp_path, monkeypatch, capsys):
    with pytest.raises(ConfigError, match="control.token"):
        config(token="only-12-char")
    path = tmp_path / "s.sqlite"
    RecordStore(path).close()
    monkeypatch.setenv("SDL_CONTROL_TOKEN", "x")
    assert main(["serve", "--store", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "$SDL_CONTROL_TOKEN" in err and "16" in err
