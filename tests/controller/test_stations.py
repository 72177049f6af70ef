"""Several robot stations (``stations = N`` on the robot fidelity): each station is a line of
its own making its own sample, both are kept busy, each run keeps its own documents and
says which station made it; a config that cannot run several stations is refused up front."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from controller.config.campaign import config_from_dict
from controller.loop.runner import CampaignRunner
from controller.records.store import RecordStore
from core import ConfigError

DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "thermoset_dryrun.toml"


def two_station_config(name: str, **devices) -> dict:
    raw = tomllib.loads(DEFAULT.read_text())
    raw.update(name=name, budget=4 * 40 + 4 * 1 + 2 * 5 + 10)  # the design, and a little for what the
    # model asks while both stations are busy (that may leave a design robot run unbought)
    raw["fidelities"]["robot"]["stations"] = 2
    raw["optimizer"]["initial_design"] = {"closed_form": 4, "kinetics_phase_field": 2, "robot": 4}
    raw["devices"].update(devices)
    return raw


def run_intervals(store: RecordStore, run_uid: str) -> tuple[float, float, str]:
    """(start, stop, station) of one robot run, from its own start and stop documents."""
    docs = dict(store.documents(run_uid))
    return docs["start"]["time"], docs["stop"]["time"], docs["start"]["station"]


@pytest.mark.slow
def test_two_stations_make_two_samples_at_once(tmp_path):
    raw = two_station_config("stations")
    raw["devices"]["speedup"] = 6000  # a 4 h cure takes 2.4 s
    store_path = tmp_path / "records.sqlite"
    result = CampaignRunner(config_from_dict(raw), store_path=store_path, show_progress=False).run()
    assert result.status == "finished", result.stop_reason
    store = RecordStore(store_path)
    robot = [s for s in store.samples("stations") if s.fidelity == "robot"]
    assert len(robot) >= 3 and all(s.status == "completed" for s in robot), [(s.id, s.status, s.error) for s in robot]
    by_station: dict[str, list[tuple[float, float]]] = {}
    for s in robot:
        start, stop, station = run_intervals(store, s.run_uid)
        assert s.attempts[-1]["station"] == station, "the sample's record names the station its documents name"
        by_station.setdefault(station, []).append((start, stop))
    store.close()
    assert sorted(by_station) == ["station-1", "station-2"], by_station
    assert len({s.run_uid for s in robot}) == len(robot), "each sample is a run of its own"
    # Both stations work at once: some run on station 2 overlaps a run on station 1.
    overlap = max(min(b1, b2) - max(a1, a2) for a1, b1 in by_station["station-1"] for a2, b2 in by_station["station-2"])
    assert overlap > 0, f"the two stations never made samples at the same time: {by_station}"


@pytest.mark.parametrize("devices, words", [
    ({"executor": "queueserver"}, "executor"),
    ({"transport": "epics"}, "make_line to take station="),
], ids=["queueserver", "epics-without-station"])
def test_stations_the_line_cannot_run_are_refused_up_front(devices, words):
    with pytest.raises(ConfigError) as err:
        config_from_dict(two_station_config("refused", **devices))
    text = str(err.value)
    assert "fidelities.robot.stations" in text and words in text, text


def test_stations_are_only_for_robots_and_whole_numbers():
    raw = two_station_config("bad")
    raw["fidelities"]["closed_form"]["stations"] = 2
    raw["fidelities"]["robot"]["stations"] = 0
    with pytest.raises(ConfigError) as err:
        config_from_dict(raw)
    text = str(err.value)
    assert "fidelities.closed_form.stations" in text and "only a robot fidelity" in text
    assert "fidelities.robot.stations" in text and "from 1 to 64" in text


def test_adding_a_station_keeps_the_campaign_fingerprint():
    one = config_from_dict({**two_station_config("fp"), "fidelities": {
        **two_station_config("fp")["fidelities"], "robot": {"kind": "robot", "cost": 40, "expected_duration": "4 h",
                                                            "target": True}}})
    two = config_from_dict(two_station_config("fp"))
    assert one.robot_stations == 1 and two.robot_stations == 2
    assert one.fingerprint == two.fingerprint, "a lab may add a station and resume its campaign"
