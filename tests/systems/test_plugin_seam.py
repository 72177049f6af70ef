"""The material-system seam: a lab's own package runs through `sdl` with zero edits to sdl,
bad plugins are refused with one line naming the system and the part, and the controller
holds no system's name."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from core.system import SIMULATORS_GROUP, SYSTEMS_GROUP, MaterialSystem, load_system

ROOT = Path(__file__).resolve().parents[2]

LAB_PACKAGE = {
    "__init__.py": '''
        """An outside lab's film system: two simulators, no robot (a simulation-only campaign)."""
        from core.system import MaterialSystem, PhysicalRange

        from fakelab.sims import Coarse, Fine

        system = MaterialSystem(
            name="fakelab_film",
            parameters={"anneal_temperature": PhysicalRange("degC", 20.0, 400.0),
                        "binder_fraction": PhysicalRange("dimensionless", 0.0, 0.5)},
            properties={"yield_strength": "MPa"},
            simulators={"coarse": Coarse, "fine": Fine},
        )
    ''',
    "sims.py": '''
        """Two fidelities of one made-up physics: the coarse one misses a binder term."""
        import math

        from core import Q_
        from simulators.base import SimulationResult, Simulator


        class _Film(Simulator):
            version = "1"

            def run(self, recipe, seed=None):
                t = recipe["anneal_temperature"].to("degC").magnitude
                b = recipe["binder_fraction"].to("dimensionless").magnitude
                strength = 300 * math.exp(-((t - 250) / 80) ** 2) + self.binder_gain * b * (1 - b)
                step = {"name": "anneal", "device": f"simulator:{self.name}",
                        "setpoints": {"temperature": Q_(t, "degC")}, "actuals": {"temperature": Q_(t, "degC")}}
                return SimulationResult(self.name, self.version, [step], {"grain_size": Q_(10 + t / 20, "nm")},
                                        {"yield_strength": Q_(strength, "MPa")})


        class Coarse(_Film):
            name = "fakelab.coarse"
            binder_gain = 0.0


        class Fine(_Film):
            name = "fakelab.fine"
            binder_gain = 400.0
    ''',
}

CAMPAIGN = '''
    name = "fakelab-dry"
    system = "fakelab:system"
    seed = 3
    budget = 30
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
'''


def write_lab(root: Path, files: dict[str, str]) -> Path:
    package = root / "fakelab"
    package.mkdir(parents=True)
    for name, text in files.items():
        (package / name).write_text(textwrap.dedent(text))
    return root


def sdl(args: list[str], lab_root: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(lab_root), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "controller.ui.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_an_outside_package_runs_a_campaign_with_no_edit_to_sdl(tmp_path):
    lab = write_lab(tmp_path / "lab", LAB_PACKAGE)
    store = tmp_path / "records.sqlite"
    config = tmp_path / "campaign.toml"
    config.write_text(textwrap.dedent(CAMPAIGN.format(store=store)))
    run = sdl(["run", str(config), "--quiet"], lab, tmp_path)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    rows = sqlite3.connect(store).execute("SELECT fidelity, status FROM samples").fetchall()
    assert {f for f, _ in rows} == {"coarse", "fine"} and all(s == "completed" for _, s in rows)
    listed = sdl(["samples", "fakelab-dry", "--store", str(store)], lab, tmp_path)
    assert listed.returncode == 0 and "fakelab-dry-0001" in listed.stdout
    explained = sdl(["explain", "fakelab-dry", "--store", str(store), "--json", "--sobol-points", "64"], lab, tmp_path)
    assert explained.returncode == 0, explained.stderr[-2000:]
    assert '"anneal_temperature"' in explained.stdout


BROKEN = [
    ("does-not-import", {"__init__.py": "import no_such_module_anywhere\n"}, "fakelab:system",
     "module 'fakelab' does not import"),
    ("no-such-attribute", {"__init__.py": "other = 1\n"}, "fakelab:system", "has no 'system'"),
    ("not-a-system", {"__init__.py": "system = {'name': 'x'}\n"}, "fakelab:system", "not a core.MaterialSystem"),
    ("robot-missing-its-plan", {"__init__.py": textwrap.dedent('''
        from core.system import MaterialSystem, PhysicalRange

        class Line:
            default_limits = None
            fault_devices = ()

        system = MaterialSystem(name="half", parameters={"x": PhysicalRange("dimensionless", 0, 1)},
                                properties={"y": "dimensionless"}, robot=Line())
    ''')}, "fakelab:system", "robot: missing fault_specs, make_line, plan, check_recipe, parameter_limits"),
    ("unknown-name", {"__init__.py": ""}, "no_such_system", "unknown material system 'no_such_system'"),
]


@pytest.mark.parametrize("files, ref, words", [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_a_broken_plugin_is_one_line_naming_the_system_and_the_part(tmp_path, files, ref, words):
    lab = write_lab(tmp_path / "lab", files)
    store = tmp_path / "records.sqlite"
    config = tmp_path / "campaign.toml"
    config.write_text(textwrap.dedent(CAMPAIGN.format(store=store)).replace('system = "fakelab:system"',
                                                                              f'system = "{ref}"'))
    run = sdl(["run", str(config)], lab, tmp_path)
    assert run.returncode == 2, run.stdout[-1000:] + run.stderr[-1000:]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "system" in lines[0] and words in lines[0], run.stderr
    assert not store.exists(), "nothing is recorded for a campaign that cannot load its system"


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
