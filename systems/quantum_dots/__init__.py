"""The second reference material system: colloidal CdSe quantum dots made in a continuous-flow
reactor (``quantum_dot_flow``).

Another domain and other instruments than the thermoset film: a recipe is a reactor
temperature, a residence time, a precursor concentration and a ligand blend (oleic acid and
oleylamine as fractions of the solvent stream, together at most 100 %: a linear constraint);
the line is four syringe pumps, a heated coil and an inline photoluminescence spectrometer
whose reading is a whole spectrum; the properties (emission peak and FWHM) are read off that
spectrum. Its physics lives in ``simulators.quantum_dots`` (two fidelities); its devices,
twins, plan and record here. Registered in ``pyproject.toml`` as the entry point
``quantum_dot_flow``, loaded exactly like an outside lab's package.
"""

from __future__ import annotations

from core.system import MaterialSystem, PhysicalRange
from simulators.quantum_dots import PHYSICAL_RANGES, BrusQuantumDots, PopulationBalanceQuantumDots
from systems.quantum_dots.recipes import LIGAND_CONSTRAINT
from systems.quantum_dots.robot import QuantumDotLine

system = MaterialSystem(
    name="quantum_dot_flow",
    description="CdSe quantum dots in a continuous-flow reactor: emission peak and linewidth from an inline PL spectrum",
    parameters={key: PhysicalRange(unit, low, high) for key, (unit, low, high, _) in PHYSICAL_RANGES.items()},
    properties={"photoluminescence_peak_wavelength": "nm", "emission_fwhm": "nm"},
    simulators={cls.name: cls for cls in (BrusQuantumDots, PopulationBalanceQuantumDots)},
    robot=QuantumDotLine(),
    linear_constraints=(LIGAND_CONSTRAINT,),
)

__all__ = ["QuantumDotLine", "system"]
