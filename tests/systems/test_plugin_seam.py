"""The material-system seam: a lab's own package runs through `sdl` with zero edits to sdl,
bad plugins are refused with one line naming the system and the part, and the controller
holds no system's name."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
import time
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from controller.records.store import RecordStore
from controller.ui.cli import main as sdl_main
from controller.ui.web.app import create_app
from core import Q_
from core.system import SIMULATORS_GROUP, SYSTEMS_GROUP, MaterialSystem, load_system

ROOT = Path(__file__).resolve().parents[2]

LAB_PACKAGE = {
    "__init__.py": """
        \"\"\"An outside lab's film system: two simulators and a robot line on simulated twins.\"\"\"
        from core.system import MaterialSystem, PhysicalRange

        from fakelab.line import FilmLine
        from fakelab.sims import Coarse, Fine

        system = MaterialSystem(
            name="fakelab_film",
            parameters={"anneal_temperature": PhysicalRange("degC", 20.0, 400.0),
                        "binder_fraction": PhysicalRange("dimensionless", 0.0, 0.5)},
            properties={"yield_strength": "MPa"},
            simulators={"coarse": Coarse, "fine": Fine},
            robot=FilmLine(),
        )
    """,
    "sims.py": """
        \"\"\"Two fidelities of one made-up physics: the coarse one misses a binder term.\"\"\"
        import math

        from core import Q_
        from simulators.base import SimulationResult, Simulator


        def strength(t_degc, binder, binder_gain):
            return 300 * math.exp(-((t_degc - 250) / 80) ** 2) + binder_gain * binder * (1 - binder)


        class _Film(Simulator):
            version = "1"

            def run(self, recipe, seed=None):
                t = recipe["anneal_temperature"].to("degC").magnitude
                b = recipe["binder_fraction"].to("dimensionless").magnitude
                step = {"name": "anneal", "device": f"simulator:{self.name}",
                        "setpoints": {"temperature": Q_(t, "degC")}, "actuals": {"temperature": Q_(t, "degC")}}
                return SimulationResult(self.name, self.version, [step], {"grain_size": Q_(10 + t / 20, "nm")},
                                        {"yield_strength": Q_(strength(t, b, self.binder_gain), "MPa")})


        class Coarse(_Film):
            name = "fakelab.coarse"
            binder_gain = 0.0


        class Fine(_Film):
            name = "fakelab.fine"
            binder_gain = 400.0
    """,
    "line.py": """
        \"\"\"The lab's line: a coater, an annealer and a tensile tester (ophyd devices built from sdl's
        generic signals), their simulated twins, the Bluesky plan of one film, and the robot line.\"\"\"
        import random
        import threading
        from dataclasses import dataclass

        import bluesky.plan_stubs as bps
        import bluesky.preprocessors as bpp
        from bluesky.utils import FailedStatus
        from ophyd import Component as Cpt
        from ophyd import Kind

        from core import Q_, ConfigError, DeviceError, DeviceFault, FieldIssue, LimitError, quantity_to_record
        from devices.base import LineDevice
        from devices.limits import DeviceLimits
        from fakelab.sims import Fine
        from devices.signals import QuantitySignal, SetpointSignal

        LIMITS = DeviceLimits({"coater.binder_fraction": (Q_(0.0, ""), Q_(0.5, "")),
                               "annealer.temperature": (Q_(20.0, "degC"), Q_(400.0, "degC")),
                               "annealer.hold_time": (Q_(1.0, "min"), Q_(120.0, "min"))})
        PARAMETER_SETPOINTS = {"binder_fraction": "coater.binder_fraction",
                               "anneal_temperature": "annealer.temperature"}
        HOLD = Q_(30.0, "min")
        MINUTES = {"coat": 5.0, "anneal": 40.0, "test": 10.0}  # nominal lab minutes of each step


        class Coater(LineDevice):
            binder_fraction = Cpt(SetpointSignal, units="dimensionless")
            coating_mass = Cpt(QuantitySignal, units="mg", kind=Kind.hinted)

            def set(self, value):
                self.binder_fraction.put(value)
                return self._start(lambda stop: self.backend.coat(self.binder_fraction.quantity(), stop))


        class Annealer(LineDevice):
            temperature = Cpt(SetpointSignal, units="degC")
            hold_time = Cpt(SetpointSignal, units="min")
            mean_temperature = Cpt(QuantitySignal, units="degC", kind=Kind.hinted)

            def set(self, value):
                self.temperature.put(value)
                return self._start(lambda stop: self.backend.anneal(self.temperature.quantity(),
                                                                    self.hold_time.quantity(), stop))


        class Tester(LineDevice):
            grain_size = Cpt(QuantitySignal, units="nm", role="structure", kind=Kind.hinted)
            yield_strength = Cpt(QuantitySignal, units="MPa", role="property", kind=Kind.hinted)

            def trigger(self):
                return self._start(lambda stop: self.backend.test(stop), kind="trigger")


        @dataclass
        class Film:
            \"\"\"What the twins share: the film on the line, the speed-up and a seeded noise.\"\"\"
            rng: random.Random
            speedup: float
            made: dict = None

            def wait(self, step, stop):
                if stop.wait(MINUTES[step] * 60.0 / self.speedup):
                    raise DeviceError(f"{step}: stopped")


        class TwinCoater:
            def __init__(self, film):
                self.film = film

            def coat(self, fraction, stop):
                self.film.wait("coat", stop)
                self.film.made = {"binder_fraction": fraction}
                return {"coating_mass": Q_(50.0 + 100.0 * fraction.to("").magnitude, "mg")}


        class TwinAnnealer:
            def __init__(self, film):
                self.film = film

            def anneal(self, temperature, hold, stop):
                self.film.wait("anneal", stop)
                actual = Q_(temperature.to("degC").magnitude + self.film.rng.gauss(0.0, 0.5), "degC")
                self.film.made["anneal_temperature"] = actual
                return {"mean_temperature": actual}


        class TwinTester:
            def __init__(self, film):
                self.film = film

            def test(self, stop):
                self.film.wait("test", stop)
                truth = Fine().run(self.film.made)
                noise = Q_(self.film.rng.gauss(0.0, 2.0), "MPa")
                return {"grain_size": truth.structure["grain_size"],
                        "yield_strength": truth.properties["yield_strength"] + noise}


        @dataclass
        class Line:
            coater: Coater
            annealer: Annealer
            tester: Tester
            limits: DeviceLimits
            time_scale: float


        def _step(step, device, timeout_s, action):
            try:
                yield from action(step)
                yield from bps.wait(group=step, timeout=timeout_s)
            except TimeoutError as err:
                yield from bps.stop(device)
                raise DeviceFault(device.name, "watchdog", f"the {step} took over {timeout_s:.3g} s", step) from err
            except FailedStatus as err:
                raise DeviceFault(device.name, "fail", str(err.__cause__ or err), step) from err
            yield from bps.create(step)
            yield from bps.read(device)
            yield from bps.save()


        def film_plan(line, setpoints, *, recipe, sample_id, md, watchdog_factor):
            \"\"\"Coat, anneal and test one film: one run, one event stream per step.\"\"\"
            def limit(step):
                return MINUTES[step] * 60.0 * watchdog_factor / line.time_scale + 2.0

            start = {**dict(md or {}), "plan_name": "fakelab_film", "sample_id": sample_id,
                     "recipe": {k: quantity_to_record(v) for k, v in recipe.items()}}

            @bpp.run_decorator(md=start)
            def run():
                yield from bps.clear_checkpoint()  # a coated film cannot be made again: never replayed
                yield from _step("coat", line.coater, limit("coat"), lambda g: bps.abs_set(
                    line.coater, setpoints["coater.binder_fraction"], group=g))
                yield from bps.mv(line.annealer.hold_time, setpoints["annealer.hold_time"])
                yield from _step("anneal", line.annealer, limit("anneal"), lambda g: bps.abs_set(
                    line.annealer, setpoints["annealer.temperature"], group=g))
                yield from _step("test", line.tester, limit("test"), lambda g: bps.trigger(line.tester, group=g))

            return (yield from run())


        class FilmLine:
            \"\"\"The core.system.RobotLine of the lab: twins only (it has no real instruments yet).\"\"\"
            default_limits = LIMITS
            fault_devices = ("coater", "annealer", "tester")

            def fault_specs(self, specs):
                if specs:
                    raise ConfigError(FieldIssue("devices.faults", "the fakelab twins inject no faults"))
                return ()

            def make_line(self, *, seed, speedup, limits, faults=(), settings=None):
                if settings is not None and (not settings.dry_run or settings.transport != "sim"):
                    raise ConfigError(FieldIssue("devices.dry_run", "the fakelab line has simulated twins only"))
                film = Film(random.Random(seed), float(speedup))
                return Line(Coater(name="coater", backend=TwinCoater(film), limits=limits),
                            Annealer(name="annealer", backend=TwinAnnealer(film), limits=limits),
                            Tester(name="tester", backend=TwinTester(film), limits=limits),
                            limits, float(speedup))

            def setpoints(self, recipe):
                return {**{path: Q_(recipe[key]) for key, path in PARAMETER_SETPOINTS.items()},
                        "annealer.hold_time": HOLD}

            def plan(self, line, recipe, *, sample_id, md, batch_mass=None, watchdog_factor=3.0):
                self.check_recipe(recipe, line.limits)
                return film_plan(line, self.setpoints(recipe), recipe=recipe, sample_id=sample_id, md=md,
                                 watchdog_factor=watchdog_factor)

            def check_recipe(self, recipe, limits, *, batch_mass=None):
                problems = [m for path, q in self.setpoints(recipe).items() if (m := limits.violation(path, q))]
                if problems:
                    raise LimitError("; ".join(problems))

            def parameter_limits(self, limits, *, batch_mass=None):
                return {key: limits.bounds(path) for key, path in PARAMETER_SETPOINTS.items()}

            def truth(self, recipe, *, seed, limits=None, batch_mass=None):
                return dict(Fine().run(recipe).properties)
    """,
}

CAMPAIGN = """
    name = "fakelab-dry"
    system = "fakelab:system"
    seed = 3
    budget = {budget}
    store = "{store}"

    [objective]
    property = "yield_strength"
    unit = "MPa"
    direction = "maximize"

    [parameters]
    anneal_temperature = {{ low = "100 degC", high = "350 degC" }}
    binder_fraction = {{ low = 0.0, high = 0.4 }}

    [fidelities.coarse]
    kind = "simulator"
    model = "fakelab.sims:Coarse"
    cost = 1

    [fidelities.fine]
    kind = "simulator"
    model = "fakelab.sims:Fine"
    cost = 5
    target = true

    [optimizer]
    strategy = "multi_fidelity"
    initial_design = {{ coarse = 4, fine = 2 }}

    [scheduler]
    simulation_workers = 1
    backend = "processes"
"""

#: The same campaign with the lab's robot line as its target fidelity.
ROBOT_CAMPAIGN = CAMPAIGN.replace("""    cost = 5
    target = true
""", """    cost = 5

    [fidelities.robot]
    kind = "robot"
    cost = 4
    expected_duration = "1 h"
    target = true

    [devices]
    speedup = {speedup}
""").replace("initial_design = {{ coarse = 4, fine = 2 }}", "initial_design = {{ coarse = 3, fine = 1, robot = 2 }}")

BACKTEST = """
    name = "fakelab-backtest"
    system = "fakelab:system"
    seed = 3
    budget = 14

    [objective]
    property = "yield_strength"
    unit = "MPa"
    direction = "maximize"

    [parameters]
    anneal_temperature = { low = "100 degC", high = "350 degC" }
    binder_fraction = { low = 0.0, high = 0.4 }

    [fidelities.coarse]
    kind = "table"
    cost = 1

    [fidelities.fine]
    kind = "table"
    cost = 5
    target = true

    [optimizer]
    strategy = "multi_fidelity"
    initial_design = { coarse = 3, fine = 1 }

    [backtest]
    table = "fakelab_table.csv"
    methods = ["multi_fidelity", "random"]
    [backtest.columns]
    coarse = "strength_coarse [MPa]"
    fine = "strength_fine [MPa]"
"""


def write_lab(root: Path, files: dict[str, str]) -> Path:
    package = root / "fakelab"
    package.mkdir(parents=True)
    for name, text in files.items():
        (package / name).write_text(textwrap.dedent(text))
    return root


def write_campaign(path: Path, store: Path, template: str = CAMPAIGN, budget: float = 30, speedup: float = 1e5,
                   system: str = "fakelab:system") -> Path:
    text = textwrap.dedent(template.format(store=store, budget=budget, speedup=speedup))
    path.write_text(text.replace('system = "fakelab:system"', f'system = "{system}"'))
    return path


def sdl(args: list[str], lab_root: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(lab_root), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "controller.ui.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def lab_campaign(tmp_path_factory):
    """The outside package's dry-run campaign (simulators and its robot line), run once by
    `sdl run` in a process that knows the package only by PYTHONPATH; the commands after it
    read that one store. The package is importable here too while the module's tests run,
    as it is for a lab that runs sdl's commands in its own environment."""
    root = tmp_path_factory.mktemp("outside")
    lab = write_lab(root / "lab", LAB_PACKAGE)
    store = root / "records.sqlite"
    config = write_campaign(root / "campaign.toml", store, ROBOT_CAMPAIGN, budget=17)
    started = time.monotonic()
    run = sdl(["run", str(config), "--quiet"], lab, root)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    print(f"sdl run of the outside package: {time.monotonic() - started:.1f} s")
    sys.path.insert(0, str(lab))
    try:
        yield {"root": root, "lab": lab, "store": store, "name": "fakelab-dry"}
    finally:
        sys.path.remove(str(lab))
        for module in [m for m in sys.modules if m == "fakelab" or m.startswith("fakelab.")]:
            del sys.modules[module]


@pytest.mark.slow
def test_an_outside_package_runs_a_campaign_on_its_own_line_with_no_edit_to_sdl(lab_campaign):
    rows = sqlite3.connect(lab_campaign["store"]).execute("SELECT id, fidelity, status FROM samples").fetchall()
    assert {f for _, f, _ in rows} == {"coarse", "fine", "robot"} and all(s == "completed" for *_, s in rows), rows
    store = RecordStore(lab_campaign["store"])
    robot = [s for s in store.samples("fakelab-dry") if s.fidelity == "robot"]
    assert len(robot) >= 2
    for sample in robot:  # the generic reader made the record from the lab's signals: roles, paths, units
        assert [step.name for step in sample.steps] == ["coat", "anneal", "test"]
        anneal = sample.steps[1]
        assert anneal.setpoints["annealer.temperature"].to("degC").magnitude == pytest.approx(
            sample.recipe["anneal_temperature"].to("degC").magnitude)
        assert anneal.setpoints["annealer.hold_time"] == Q_(30, "min")
        assert sample.structure["grain_size"].units == Q_(1, "nm").units
        assert sample.properties["yield_strength"].dimensionality == Q_(1, "MPa").dimensionality
        names = [n for n, _ in store.documents(sample.run_uid)]
        assert names[0] == "start" and names[-1] == "stop" and names.count("event") == 3
    store.close()


@pytest.mark.slow
def test_the_commands_read_the_outside_campaign(lab_campaign, capsys):
    store, name = str(lab_campaign["store"]), lab_campaign["name"]
    assert sdl_main(["samples", name, "--store", store]) == 0
    assert f"{name}-0001" in capsys.readouterr().out
    assert sdl_main(["explain", name, "--store", store, "--json", "--sobol-points", "64"]) == 0
    explained = json.loads(capsys.readouterr().out)
    assert '"anneal_temperature"' in json.dumps(explained)
    report = lab_campaign["root"] / "report.html"
    assert sdl_main(["report", name, "--store", store, "--output", str(report)]) == 0
    html = report.read_text()
    assert name in html and "yield_strength" in html and f"{name}-0001" in html and "robot" in html


@pytest.mark.slow
def test_the_dashboard_reads_the_outside_campaign(lab_campaign):
    name = lab_campaign["name"]
    client = TestClient(create_app(lab_campaign["store"]), base_url="http://localhost")
    assert [c["name"] for c in client.get("/api/campaigns").json()] == [name]
    summary = client.get(f"/api/campaigns/{name}").json()
    # the stored settings validated here, so the dashboard loaded the lab's system by its reference
    assert summary["objective"] == {"property": "yield_strength", "unit": "MPa", "direction": "maximize"}
    assert [f["name"] for f in summary["fidelities"]] == ["coarse", "fine", "robot"]
    assert summary["best_at_target"] is not None
    rows = client.get(f"/api/campaigns/{name}/samples", params={"fidelity": "robot"}).json()
    detail = client.get(f"/api/samples/{rows[0]['id']}").json()
    assert [step["name"] for step in detail["steps"]] == ["coat", "anneal", "test"]
    assert detail["properties"]["yield_strength"]["unit"] == "MPa"
    devices = client.get(f"/api/campaigns/{name}/devices").json()
    assert {"coater", "annealer", "tester"} <= set(devices["devices"]) and devices["exit_status"] == "success"
    assert "robot" in client.get(f"/api/campaigns/{name}/progress").json()["best"]
    page = client.get(f"/api/campaigns/{name}/report")
    assert page.status_code == 200 and "yield_strength" in page.text


@pytest.mark.slow
def test_a_backtest_on_the_outside_system(lab_campaign, capsys):
    """The lab's recorded table (here made by its own two simulators) answers the strategies."""
    from fakelab.sims import strength

    root = lab_campaign["root"]
    rows = ["anneal_temperature [degC],binder_fraction,strength_coarse [MPa],strength_fine [MPa]"]
    for t in range(100, 351, 25):
        for b in (0.0, 0.1, 0.2, 0.3, 0.4):
            rows.append(f"{t},{b},{strength(t, b, 0.0):.3f},{strength(t, b, 400.0):.3f}")
    (root / "fakelab_table.csv").write_text("\n".join(rows) + "\n")
    config = root / "backtest.toml"
    config.write_text(textwrap.dedent(BACKTEST))
    out = root / "backtest-out"
    assert sdl_main(["backtest", str(config), "--seeds", "1", "--quiet", "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "multi_fidelity" in printed and "random" in printed
    summary = json.loads((out / "backtest_summary.json").read_text())
    assert summary and (out / "backtest_traces.csv").exists()


#: (id, package files, system reference, words of the one-line error, campaign template).
BROKEN = [
    ("does-not-import", {"__init__.py": "import no_such_module_anywhere\n"}, "fakelab:system",
     "module 'fakelab' does not import", CAMPAIGN),
    ("no-such-attribute", {"__init__.py": "other = 1\n"}, "fakelab:system", "has no 'system'", CAMPAIGN),
    ("not-a-system", {"__init__.py": "system = {'name': 'x'}\n"}, "fakelab:system", "not a core.MaterialSystem",
     CAMPAIGN),
    ("robot-missing-its-plan", {"__init__.py": textwrap.dedent('''
        from core.system import MaterialSystem, PhysicalRange

        class Line:
            default_limits = None
            fault_devices = ()

        system = MaterialSystem(name="half", parameters={"x": PhysicalRange("dimensionless", 0, 1)},
                                properties={"y": "dimensionless"}, robot=Line())
    ''')}, "fakelab:system", "robot: missing fault_specs, make_line, plan, check_recipe, parameter_limits",
     CAMPAIGN),
    ("no-properties", {**LAB_PACKAGE, "__init__.py": LAB_PACKAGE["__init__.py"].replace(
        'properties={"yield_strength": "MPa"}', "properties={}")}, "fakelab:system",
     "material system 'fakelab:system': properties: none declared", CAMPAIGN),
    ("unknown-name", {"__init__.py": ""}, "no_such_system", "unknown material system 'no_such_system'", CAMPAIGN),
    pytest.param("simulator-raises", {**LAB_PACKAGE, "sims.py": LAB_PACKAGE["sims.py"].replace(
        "b = recipe[", "b = 1 / 0 + recipe[")}, "fakelab:system",
     "material system 'fakelab:system': simulator 'fakelab.sims:Coarse' (fidelities.coarse) raised "
     "ZeroDivisionError: division by zero on the middle of the search space", CAMPAIGN, marks=pytest.mark.slow),
    pytest.param("plan-yields-nothing", {**LAB_PACKAGE, "__init__.py": LAB_PACKAGE["__init__.py"] + '''
        import dataclasses

        class NothingLine(FilmLine):
            def plan(self, line, recipe, **kwargs):
                return iter(())

        system = dataclasses.replace(system, robot=NothingLine())
    '''}, "fakelab:system",
     "material system 'fakelab:system': robot.plan ended after 0 messages without opening a run", ROBOT_CAMPAIGN,
                 marks=pytest.mark.slow),
    pytest.param("plan-opens-no-run", {**LAB_PACKAGE, "__init__.py": LAB_PACKAGE["__init__.py"] + '''
        import dataclasses

        import bluesky.plan_stubs as bps

        class RunlessLine(FilmLine):
            def plan(self, line, recipe, **kwargs):
                yield from bps.mv(line.annealer.hold_time, self.setpoints(recipe)["annealer.hold_time"])

        system = dataclasses.replace(system, robot=RunlessLine())
    '''}, "fakelab:system",
     "material system 'fakelab:system': robot.plan ended after 2 messages without opening a run", ROBOT_CAMPAIGN,
                 marks=pytest.mark.slow),
]


def _case(entry):
    if hasattr(entry, "marks"):  # a pytest.param: the cases that run the campaign's opening are slow
        return pytest.param(*entry.values[1:], id=entry.values[0], marks=entry.marks)
    return pytest.param(*entry[1:], id=entry[0])


@pytest.mark.parametrize("files, ref, words, template", [_case(b) for b in BROKEN])
def test_a_broken_plugin_is_one_line_naming_the_system_and_the_part(tmp_path, files, ref, words, template):
    lab = write_lab(tmp_path / "lab", files)
    store = tmp_path / "records.sqlite"
    config = write_campaign(tmp_path / "campaign.toml", store, template, system=ref)
    run = sdl(["run", str(config)], lab, tmp_path)
    assert run.returncode == 2, run.stdout[-1000:] + run.stderr[-1000:]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "system" in lines[0] and words in lines[0], run.stderr
    assert not store.exists(), "nothing is recorded for a campaign that cannot load its system"


@pytest.mark.slow
def test_a_plan_that_makes_no_documents_when_it_runs_ends_the_campaign_naming_the_system(tmp_path):
    """A plan whose run hangs on what a device reads passes the walk at opening (only a RunEngine
    answers a read) but makes no documents when it runs: not a fault of that sample, since every
    run would end so; the campaign ends at once with one line naming the system and the part."""
    lab = write_lab(tmp_path / "lab", {**LAB_PACKAGE, "__init__.py": LAB_PACKAGE["__init__.py"] + '''
        import dataclasses

        from bluesky import Msg

        class ReadFirstLine(FilmLine):
            def plan(self, line, recipe, **kwargs):
                reading = yield Msg("read", line.annealer)
                if reading:  # the lab's bug: it meant to go on only when the annealer reads
                    return
                yield from super().plan(line, recipe, **kwargs)

        system = dataclasses.replace(system, robot=ReadFirstLine())
    '''})
    store = tmp_path / "records.sqlite"
    config = write_campaign(tmp_path / "campaign.toml", store, ROBOT_CAMPAIGN, budget=17)
    run = sdl(["run", str(config), "--quiet"], lab, tmp_path)
    assert run.returncode == 2, run.stdout[-1000:] + run.stderr[-1000:]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "material system 'fakelab:system': robot.plan ran for fakelab-dry-" in lines[0], lines
    assert "made no documents" in lines[0]
    records = RecordStore(store)
    robot = [s for s in records.samples("fakelab-dry") if s.fidelity == "robot"]
    assert len(robot) == 1, "the campaign ended at the first such run"
    assert robot[0].status == "failed" and robot[0].cost == 0 and "robot.plan" in robot[0].error
    campaign = records.campaign("fakelab-dry")
    assert campaign["status"] == "failed" and "made no documents" in campaign["stop_reason"]
    assert records.inflight("fakelab-dry") == [], "nothing is left half-written"
    records.close()


def test_a_simulator_that_raises_on_one_sample_fails_that_sample_naming_the_model(tmp_path, monkeypatch):
    """Past the opening probe, a model that raises on a recipe is a fault of that sample: recorded
    as failed with the model and the exception, and the campaign goes on."""
    from concurrent.futures import Future

    from controller.execution.simwork import run_simulation
    from controller.loop.dispatch import Dispatch, finished_sample
    from controller.config.campaign import load_config
    from controller.records.samples import to_jsonable
    from core import SimulationError

    lab = write_lab(tmp_path / "lab", LAB_PACKAGE)
    (lab / "fakelab" / "fragile.py").write_text(textwrap.dedent('''
        from fakelab.sims import Fine

        class Fragile(Fine):
            def run(self, recipe, seed=None):
                if recipe["binder_fraction"].to("").magnitude > 0.3:
                    raise FloatingPointError("the binder term overflows")
                return super().run(recipe, seed)
    '''))
    monkeypatch.syspath_prepend(str(lab))
    for name in [m for m in sys.modules if m == "fakelab" or m.startswith("fakelab.")]:
        monkeypatch.delitem(sys.modules, name)  # this package, not another test's, answers "fakelab"
    recipe = to_jsonable({"anneal_temperature": Q_(250, "degC"), "binder_fraction": Q_(0.35, "")})
    with pytest.raises(SimulationError) as caught:
        run_simulation("fakelab.fragile:Fragile", recipe, seed=1)
    assert str(caught.value) == "simulator 'fakelab.fragile:Fragile' raised FloatingPointError: the binder term overflows"
    config = load_config(write_campaign(tmp_path / "campaign.toml", tmp_path / "records.sqlite"))
    for name in [m for m in sys.modules if m == "fakelab" or m.startswith("fakelab.")]:
        monkeypatch.delitem(sys.modules, name)  # and leaves none of its modules to other tests
    fut = Future()
    fut.set_exception(caught.value)
    d = Dispatch("fakelab-dry-0009", 9, "fine", {"binder_fraction": Q_(0.35, "")}, {}, 0.0)
    sample = finished_sample(config, d, fut)
    assert sample.status == "failed" and "fakelab.fragile:Fragile" in sample.error and "FloatingPointError" in sample.error


def test_the_reference_system_loads_through_the_entry_point_like_any_plugin():
    names = {ep.name: ep.value for ep in entry_points(group=SYSTEMS_GROUP)}
    assert names, "no material system is registered (pip install -e . registers the reference system)"
    for name in names:
        system = load_system(name)
        assert isinstance(system, MaterialSystem) and system.problems() == []
        for model in system.simulators:
            assert model in {ep.name for ep in entry_points(group=SIMULATORS_GROUP)}, model


#: The generic packages, each with the folders inside it that belong to one material system.
#: simulators/thermoset and simulators/quantum_dots are the reference systems' simulators, which
#: the entry points name like any lab's package: they stay beside the generic simulator code
#: because under systems/<name>/ importing one would run that system's package __init__, which
#: declares its robot line and so loads bluesky and ophyd into every simulation worker.
GENERIC_PACKAGES = {"controller": (), "optimizers": (), "core": (), "devices": (),
                    "simulators": ("thermoset", "quantum_dots")}
#: Words of the reference systems' chemistry: no generic code says them, as a substring of any word.
MATERIAL_WORDS = ("thermoset", "dgeba", "ipda", "epoxy", "epoxide", "quantum", "cdse", "oleylamine", "octadecene")
#: Names of the reference lines' own devices and reagents, found as whole words (``CuringOven``
#: and ``resin_dispenser`` count; ``proven`` does not). Generic examples use other names.
DEVICE_WORDS = ("oven", "mixer", "dispenser", "resin", "hardener", "spectrometer")


def material_words() -> set[str]:
    """Every system's and simulator's name (and the simulators' name prefixes), and :data:`MATERIAL_WORDS`."""
    words = set(MATERIAL_WORDS)
    for ep in entry_points(group=SYSTEMS_GROUP):
        system = load_system(ep.name)
        words |= {ep.name, system.name, *system.simulators}
        words |= {model.split(".", 1)[0] for model in system.simulators}
    return words


def name_hits(path: Path, pattern: re.Pattern, device_words: set[str]) -> list[tuple[int, str]]:
    """(line number, line) of every line of ``path`` that names a system."""
    hits = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        tokens = {token.lower() for token in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", line)}
        if pattern.search(line) or tokens & device_words:
            hits.append((n, line.strip()))
    return hits


@pytest.mark.parametrize("package", sorted(GENERIC_PACKAGES))
def test_generic_packages_name_no_material_system(package):
    """No system's name, nor its simulators', chemistry's or devices' names, appears anywhere in
    the generic packages (code, messages, comments): they load systems only by the names campaign
    files give them, and a system's line is built from them with the system's own names."""
    words = material_words()
    assert {"thermoset_blend", "quantum_dot_flow"} <= words
    pattern = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), re.IGNORECASE)
    exempt = [ROOT / package / name for name in GENERIC_PACKAGES[package]]
    assert all(folder.is_dir() for folder in exempt), "an exempt folder moved: update GENERIC_PACKAGES"
    files = [path for path in sorted((ROOT / package).rglob("*.py"))
             if not any(folder in path.parents for folder in exempt)]
    assert files
    hits = [f"{path.relative_to(ROOT)}:{n}: {line}"
            for path in files for n, line in name_hits(path, pattern, set(DEVICE_WORDS))]
    assert hits == []


def test_the_name_check_finds_a_system_in_any_spelling(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("class CuringOven:\n    pass\nPATH = 'resin_dispenser.mass'\n# a DGEBA film\n"
                     "x = 'quantum_dot_flow'\n# proven, mixers, ovenproof\n")
    pattern = re.compile("|".join(re.escape(w) for w in sorted(material_words(), key=len, reverse=True)), re.IGNORECASE)
    assert [n for n, _ in name_hits(probe, pattern, set(DEVICE_WORDS))] == [1, 3, 4, 5]
