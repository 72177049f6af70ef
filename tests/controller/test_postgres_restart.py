"""A PostgreSQL restart mid-campaign: the controller waits and retries (bounded, logged), loses
nothing and records nothing twice (issue 14, item 8).

The server of ``$SDL_TEST_POSTGRES_URL`` is shared with other tests, so this one starts a second
throwaway cluster of its own (``SDL_PG_DIR=/tmp/sdl-pg-restart bash .ci/postgres.sh start``),
restarts it twice while a dry run writes to it, and stops it at the end.
"""

import os
import shutil
import subprocess
import sys
import time

import pytest

from controller.records.store import RecordStore
from tests.controller.test_crash_resume import BUDGET, CATCH_THE_PLAN, ROOT, check_store, rows, wait_for, write_config

PG_DIR = "/tmp/sdl-pg-restart"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not shutil.which("bash") or not any(
                  os.path.isdir(f"/usr/lib/postgresql/{v}") for v in os.listdir("/usr/lib/postgresql"))
                  if os.path.isdir("/usr/lib/postgresql") else True, reason="no PostgreSQL server installed")]


def postgres(verb: str) -> str:
    out = subprocess.run(["bash", str(ROOT / ".ci" / "postgres.sh"), verb], env={**os.environ, "SDL_PG_DIR": PG_DIR},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture
def restartable_url():
    line = postgres("start").strip()
    try:
        yield line.split("=", 1)[1]
    finally:
        postgres("stop")


def test_the_campaign_rides_out_a_server_restart(tmp_path, restartable_url):
    store, name = restartable_url, "pg-restart"
    config = write_config(tmp_path, name, speedup=CATCH_THE_PLAN)  # the second restart lands in a robot run
    proc = subprocess.Popen([sys.executable, "-m", "controller.ui.cli", "run", str(config), "--store", store, "--quiet"],
                            env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        for completed in (3, 6):  # twice: once early, once with the robot line at work
            wait_for(store, f"SELECT 1 FROM samples WHERE status='completed' HAVING COUNT(*) >= {completed}")
            postgres("restart")
            time.sleep(0.5)
        out = proc.communicate(timeout=400)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-3000:]
    assert "connection lost" in out, "the restart was not noticed: the test proves nothing"
    samples = check_store(store, name, budget=BUDGET)
    assert [s.status for s in samples].count("interrupted") == 0, "a sample was lost to the restart"
    assert len({s.id for s in samples}) == len(samples)
    events = rows(store, "SELECT kind FROM campaign_events WHERE kind IN ('campaign_started', 'campaign_finished')")
    assert sorted(r[0] for r in events) == ["campaign_finished", "campaign_started"], "an event was written twice"
    s = RecordStore(store)
    assert s.verify_chain(name).intact
    s.close()
