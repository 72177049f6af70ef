"""End to end in a real headless browser: open the dashboard during a dry run, see samples
appear live, approve a robot run with the token, and take a screenshot."""

import os
import threading
import tomllib
from pathlib import Path

import pytest

from browser_helpers import browser_page, chromium_path
from controller.loop.runner import CampaignRunner
from controller.config.campaign import config_from_dict
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
        page.wait_for_function("document.querySelectorAll('#samples tbody tr[data-status=completed]').length >= 3",
                               timeout=60_000)
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
