"""End to end in a real headless browser: open the dashboard during a dry run, see samples
appear live, approve a robot run with the token, and take a screenshot; and a store whose
names are script payloads shows them as text without running them."""

import json
import os
import threading
import time
import tomllib
from pathlib import Path
from urllib.parse import quote

import pytest

from browser_helpers import browser_page, chromium_path
from controller.loop.runner import CampaignRunner
from controller.config.campaign import config_from_dict
from controller.records.samples import ProcessStep, Sample
from controller.records.store import RecordStore
from controller.ui.web.app import BackgroundServer

DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "thermoset_dryrun.toml"
TOKEN = "browser-test-token"

pytestmark = pytest.mark.slow

if chromium_path() is None and not os.environ.get("SDL_REQUIRE_BROWSER"):
    pytest.skip("no chromium installed (apt-get install chromium); CI sets SDL_REQUIRE_BROWSER=1 and installs it",
                allow_module_level=True)


def gated_config():
    raw = tomllib.loads(DEFAULT.read_text())
    raw.update(name="browser", budget=90)
    raw["optimizer"]["initial_design"] = {"closed_form": 6, "kinetics_phase_field": 1, "robot": 2}
    raw["scheduler"]["simulation_workers"] = 1
    raw["control"] = {"approval": ["robot"], "token": TOKEN}
    return config_from_dict(raw)


def test_dashboard_shows_samples_live_and_approves_a_robot_run(tmp_path, monkeypatch):
    monkeypatch.delenv("SDL_CONTROL_TOKEN", raising=False)
    path = tmp_path / "records.sqlite"
    RecordStore(path).close()
    result = {}
    with BackgroundServer(path) as server, browser_page() as page:
        # The page is open before the campaign starts: everything after this arrives live.
        cfg = gated_config()
        store = RecordStore(path)
        store.open_campaign(cfg.name, cfg.fingerprint, cfg.to_json(), cfg.budget)
        store.finish_campaign(cfg.name, "stopped", "not started yet")
        page.goto(f"{server.url}/#/c/browser")
        page.wait_for_selector("#live.on", timeout=15_000)

        runner = threading.Thread(target=lambda: result.update(
            r=CampaignRunner(cfg, store_path=path, speedup=1e5, show_progress=False).run()), daemon=True)
        runner.start()
        # (a locator, not wait_for_function: the page's CSP forbids evaluating strings)
        page.locator("#samples tbody tr[data-status=completed]").nth(2).wait_for(timeout=60_000)
        page.fill("#operator", "Ada")
        page.fill("#token", TOKEN)
        card = page.wait_for_selector(".approval", timeout=60_000)
        sample_id = card.get_attribute("data-sample")
        text = page.inner_text(f".approval[data-sample='{sample_id}']")
        assert "predicted" in text and "why:" in text
        page.screenshot(path=str(tmp_path / "dashboard-awaiting.png"), full_page=True)
        page.locator(f".approval[data-sample='{sample_id}'] .approve").click()
        page.wait_for_selector("#message.ok", timeout=10_000)
        assert f"{sample_id} approved by Ada" in page.inner_text("#message")
        # the approved run goes through the robot and shows up as completed, live
        page.wait_for_selector(f"#samples tr[data-sample='{sample_id}'][data-status=completed]", timeout=90_000)
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

        row = page.inner_text(f"#samples tr[data-sample='{sample_id}']")
        assert "approved by Ada" in row
        # the lineage page of the approved sample shows its process steps with units
        page.click(f"#samples tr[data-sample='{sample_id}'] a")
        page.wait_for_selector("#timeline")
        lineage = page.inner_text("#timeline")
        assert "dispense" in lineage and "cure" in lineage and "degC" in lineage
        # stop the campaign from the browser (the next robot run would wait for approval)
        page.go_back()
        page.wait_for_selector("#stop:not([disabled])", timeout=15_000)
        page.fill("#operator", "Ada")
        page.fill("#token", TOKEN)
        page.on("dialog", lambda dialog: dialog.accept())
        page.click("#stop")
        runner.join(120)
        store.close()
    assert result["r"].status in ("stopped", "finished"), result["r"].stop_reason
    approved = RecordStore(path).sample(sample_id)
    assert approved.status == "completed" and approved.suggestion["approval"]["operator"] == "Ada"
    for shot in ("dashboard-awaiting.png", "dashboard.png"):
        assert (tmp_path / shot).stat().st_size > 20_000


# Each payload would set window.__pwned (and the title) if it ever ran as markup.
P_CAMPAIGN = "<img src=x onerror=\"window.__pwned='campaign';document.title='pwned'\">camp"
P_FIDELITY = "<img src=x onerror=\"window.__pwned='fidelity';document.title='pwned'\">fid"
P_PARAMETER = "<svg onload=\"window.__pwned='parameter'\">temp"
P_LABEL = "<img src=x onerror=\"window.__pwned='label'\">tgap"
P_TEXT = "<script>window.__pwned='text'</script>"


def poisoned_store(path):
    """Records as an old store (or a hand-edited one) may hold them: every name a payload.

    The campaign's settings are written as JSON straight into the store, past the config
    loader's validation of names: the dashboard must be safe whatever the store holds.
    """
    raw = tomllib.loads(DEFAULT.read_text())
    raw["name"] = P_CAMPAIGN
    raw["fidelities"][P_FIDELITY] = raw["fidelities"].pop("closed_form")
    raw["optimizer"]["initial_design"] = {P_FIDELITY: 2, "robot": 1}
    raw["parameters"][P_PARAMETER] = raw["parameters"].pop("cure_temperature")
    choices = raw["parameters"]["additive"]["choices"]
    smiles = choices.pop("tgap")
    choices[P_LABEL] = smiles
    raw["control"] = {"approval": ["robot"], "token": "x" * 20}
    store = RecordStore(path)
    store.open_campaign(P_CAMPAIGN, "fingerprint", json.dumps(raw), 400.0)
    recipe = {P_PARAMETER: {"value": 120.0, "unit": "degC"}, "additive": smiles,
              "additive_fraction": {"value": 5.0, "unit": "%"}}
    suggestion = {"predicted_mean": 110.0, "predicted_std": 4.0, "objective_unit": "degC", "reason": P_TEXT,
                  "strategy": P_TEXT, "model_id": P_TEXT}
    for seq, tg in ((1, 100.0), (2, 120.0)):
        store.add_sample(Sample(
            id=f"{P_CAMPAIGN}-{seq:04d}", campaign=P_CAMPAIGN, seq=seq, fidelity=P_FIDELITY, status="completed", cost=1.0,
            recipe=recipe, steps=[ProcessStep(name=P_TEXT, device=P_TEXT, setpoints={P_PARAMETER: {"value": 120.0, "unit": "degC"}})],
            properties={"glass_transition_temperature": {"value": tg, "unit": "degC"}, P_TEXT: {"value": 1.0, "unit": "degC"}},
            structure={P_TEXT: {"value": 0.5, "unit": "dimensionless"}}, suggestion=suggestion,
            error=None, created=time.time(), completed=time.time()))
    store.begin_sample(Sample(id=f"{P_CAMPAIGN}-0003", campaign=P_CAMPAIGN, seq=3, fidelity="robot", status="awaiting_approval",
                              cost=40.0, recipe=recipe, suggestion=suggestion, created=time.time()))
    store.close()


def test_script_payloads_in_the_store_show_as_text_and_never_run(tmp_path, monkeypatch):
    monkeypatch.delenv("SDL_CONTROL_TOKEN", raising=False)
    path = tmp_path / "poisoned.sqlite"
    poisoned_store(path)
    with BackgroundServer(path) as server, browser_page() as page:
        violations = []
        page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        response = page.goto(f"{server.url}/#/")
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        page.wait_for_selector("#campaigns a")
        assert P_CAMPAIGN in page.inner_text("#campaigns")

        page.goto(f"{server.url}/#/c/{quote(P_CAMPAIGN, safe='')}")
        page.wait_for_selector("#samples tbody tr")
        page.wait_for_selector(".approval")
        assert P_CAMPAIGN in page.inner_text("#head h1")
        # The chart legend (charts.js) with a fidelity named like a payload. The stored settings
        # no longer load (the config loader refuses such names), so the campaign's own chart
        # may stay empty: draw one with the dashboard's own drawChart.
        page.evaluate("""name => {
            const box = document.createElement("div");
            box.id = "legend-probe";
            document.getElementById("view").appendChild(box);
            drawChart(box, [{name, kind: "step", points: [{x: 0, y: 1}, {x: 1, y: 2}]}], {});
        }""", P_FIDELITY)
        assert P_FIDELITY in page.inner_text("#legend-probe .legend"), "the chart legend shows the name as text"
        assert P_FIDELITY in page.inner_text("#budget") and P_FIDELITY in page.inner_text("#samples")
        assert P_PARAMETER in page.inner_text("#samples") and P_TEXT in page.inner_text(".approval")
        page.screenshot(path=str(tmp_path / "poisoned-campaign.png"), full_page=True)

        page.goto(f"{server.url}/#/s/{quote(P_CAMPAIGN + '-0002', safe='')}")
        page.wait_for_selector("#timeline")
        lineage = page.inner_text("#timeline")
        assert P_TEXT in lineage and P_PARAMETER in lineage
        time.sleep(0.5)  # an onerror/onload would have fired by now
        assert page.evaluate("() => window.__pwned === undefined"), page.evaluate("() => String(window.__pwned)")
        assert page.title() == "sdl dashboard"
        assert page.locator("main img, main svg[onload], main script").count() == 0, "no element was made from a payload"
    assert not violations, violations
