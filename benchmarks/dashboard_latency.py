"""How long from a sample being recorded to it appearing in an operator's browser.

Runs a dry-run campaign (the default campaign file, a smaller budget, robot runs behind the
approval gate so the approval path is exercised too) with the dashboard open in headless
Chromium. For every sample the page records when it first showed the sample in its final
state; the latency is that time minus the sample's ``completed`` time in the store (one
clock: same machine). Prints the figures, writes them as JSON, and saves a screenshot.

    python benchmarks/dashboard_latency.py [--budget 160] [--screenshot docs/dashboard.png]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "controller"))

from browser_helpers import browser_page  # noqa: E402
from controller.loop.runner import CampaignRunner  # noqa: E402
from controller.config.campaign import config_from_dict  # noqa: E402
from controller.records.store import RecordStore  # noqa: E402
from controller.ui.web.app import BackgroundServer  # noqa: E402

TOKEN = "benchmark-control-token"  # at least control.MIN_TOKEN_CHARS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=160)
    parser.add_argument("--screenshot", default=str(ROOT / "docs" / "dashboard.png"))
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "dashboard_latency.json"))
    args = parser.parse_args(argv)

    raw = tomllib.loads((ROOT / "configs" / "thermoset_dryrun.toml").read_text())
    raw.update(name="latency", budget=args.budget)
    raw["control"] = {"approval": ["robot"], "token": TOKEN}
    cfg = config_from_dict(raw)
    path = Path(tempfile.mkdtemp(prefix="sdl-latency-")) / "records.sqlite"
    store = RecordStore(path)
    store.open_campaign(cfg.name, cfg.fingerprint, cfg.to_json(), cfg.budget)
    store.finish_campaign(cfg.name, "stopped", "not started yet")
    result: dict = {}
    approvals = 0
    with BackgroundServer(path) as server, browser_page() as page:
        page.goto(f"{server.url}/#/c/{cfg.name}")
        page.wait_for_selector("#live.on", timeout=15_000)
        page.fill("#operator", "benchmark")
        page.fill("#token", TOKEN)
        runner = threading.Thread(target=lambda: result.update(
            r=CampaignRunner(cfg, store_path=path, show_progress=False).run()), daemon=True)
        started = time.time()
        runner.start()
        while runner.is_alive():
            for button in page.query_selector_all(".approval .approve"):
                button.click()  # the operator approves every robot run at once
                approvals += 1
            time.sleep(0.2)
        page.wait_for_timeout(1500)  # the last events reach the page
        seen = page.evaluate("""() => Array.from(document.querySelectorAll('#samples tbody tr'))
            .map(r => [r.dataset.sample, r.dataset.status, +r.dataset.seenMs])""")
        page.click("#explain-btn")  # the screenshot shows the model's explanation too
        page.wait_for_selector("#explain .importance", timeout=120_000)
        page.screenshot(path=args.screenshot)
    wall = time.time() - started
    samples = {s.id: s for s in RecordStore(path).samples(cfg.name)}
    latencies = []
    for sample_id, status, seen_ms in seen:
        s = samples.get(sample_id)
        if s is not None and s.completed and status == s.status:
            latencies.append(seen_ms / 1000 - s.completed)
    latencies.sort()
    figures = {
        "samples": len(samples), "measured": len(latencies), "robot_approvals": approvals,
        "campaign_wall_s": round(wall, 1),
        "latency_median_s": round(statistics.median(latencies), 3),
        "latency_p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
        "latency_max_s": round(latencies[-1], 3), "latency_min_s": round(latencies[0], 3),
        "event_poll_s": 0.1, "screenshot": str(Path(args.screenshot).resolve().relative_to(ROOT))
        if Path(args.screenshot).resolve().is_relative_to(ROOT) else args.screenshot,
        "status": result["r"].status,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(figures, indent=2) + "\n")
    for key, value in figures.items():
        print(f"{key:>20}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
