"""A two-objective campaign in a real headless browser: the dashboard draws the measured and the
predicted Pareto front, the hypervolume and the constraint violations, explains each objective,
and the report served beside it shows the same front."""

from __future__ import annotations

import functools
import os
from urllib.parse import quote

import pytest

from browser_helpers import browser_page, chromium_path
from controller.ui.web.app import BackgroundServer
from goal_store import FRONT, HYPERVOLUME, NAME, ROBOT, VIOLATING_ROBOT, build_goal_store

pytestmark = pytest.mark.slow

if chromium_path() is None and not os.environ.get("SDL_REQUIRE_BROWSER"):
    pytest.skip("no chromium installed (apt-get install chromium); CI sets SDL_REQUIRE_BROWSER=1 and installs it",
                allow_module_level=True)


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("goals-browser") / "records.sqlite"
    build_goal_store(path)
    return path


@pytest.fixture
def fast_explanations(monkeypatch):
    """The dashboard's explanation with small Sobol and correlation samples (the default is for people)."""
    from controller.analysis import explain

    monkeypatch.setattr(explain, "explain_campaign", functools.partial(explain.explain_campaign, n_sobol=64,
                                                                       n_correlation=32))


def test_dashboard_and_report_show_the_front(store_path, tmp_path, fast_explanations, monkeypatch):
    monkeypatch.delenv("SDL_CONTROL_TOKEN", raising=False)
    with BackgroundServer(store_path) as server, browser_page() as page:
        errors = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(f"{server.url}/#/c/{quote(NAME, safe='')}")
        page.wait_for_selector("#chart-front svg", timeout=60_000)
        page.wait_for_selector("#predicted-front tbody tr", timeout=30_000)
        page.wait_for_selector(f"#samples tr[data-sample='{ROBOT[0]}']", timeout=30_000)

        legend = page.inner_text("#chart-front .legend")
        for series in ("measured, constraints met", "measured, a constraint broken", "measured front",
                       "predicted front (±1σ)"):
            assert series in legend
        # measured at the robot: 4 completed samples with both objectives (the failed one has none)
        predicted = page.locator("#predicted-front tbody tr").count()
        assert predicted >= 1
        assert page.locator("#chart-front svg circle.point").count() == 2 + predicted  # off-front points + predicted
        assert page.locator("#chart-front svg line.guide").count() == 1  # the constraint's bound
        front = page.inner_text("#front")
        assert "Measured front: 2 sample(s)" in front and all(sid in front for sid in FRONT)
        assert "P(constraints hold)" in front and "hidden truth" in front
        assert page.inner_text("#hv-target") == f"{HYPERVOLUME:.4g}"
        assert "from thresholds" in page.inner_text("#hv-note") and page.inner_text("#hv-truth")
        assert "robot (target)" in page.inner_text("#chart-hv .legend")
        assert page.inner_text("#best") == f"2 sample(s), hypervolume {HYPERVOLUME:.4g}"
        assert VIOLATING_ROBOT in page.inner_text("#violations")
        head = page.inner_text("#samples thead")
        assert "glass_transition_temperature (degC)" in head and "fracture_toughness (MPa*m**0.5)" in head
        assert page.locator(f"#samples tr[data-sample='{ROBOT[0]}'] .on-front").count() == 1
        assert page.locator(f"#samples tr[data-sample='{ROBOT[2]}'] .on-front").count() == 0
        assert "violates" in page.inner_text(f"#samples tr[data-sample='{VIOLATING_ROBOT}']")

        page.click("#explain-btn")
        page.wait_for_selector("#explain .outcome", timeout=120_000)
        outcomes = page.locator("#explain .outcome")
        assert outcomes.count() == 2
        assert [outcomes.nth(i).get_attribute("data-property") for i in range(2)] == [
            "glass_transition_temperature", "fracture_toughness"]
        assert all(outcomes.nth(i).locator(".importance .row").count() == 7 for i in range(2))
        page.screenshot(path=str(tmp_path / "dashboard-goals.png"), full_page=True)

        page.goto(f"{server.url}/api/campaigns/{quote(NAME, safe='')}/report")
        page.wait_for_selector("#measured-front")
        measured = page.inner_text("#measured-front")
        assert all(sid in measured for sid in FRONT) and ROBOT[2] not in measured
        assert page.locator("#predicted-front tr").count() == predicted + 1  # and its header
        assert VIOLATING_ROBOT in page.inner_text("#violations")
        assert page.locator("svg").count() >= 4  # progress, predicted vs measured, the front, the hypervolume
        page.screenshot(path=str(tmp_path / "report-goals.png"), full_page=True)
    assert not errors, errors
    assert (tmp_path / "dashboard-goals.png").stat().st_size > 20_000
