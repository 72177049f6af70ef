"""Simulated twins of the line for dry runs, and the hidden truth of the films they make.

Never imported by runtime code on hardware; ``systems.thermoset.devices.make_sim_line`` loads it lazily.
"""

from systems.thermoset.devices.sim.lab import Lot, SampleState, SimAmbient, SimulatedLab
from systems.thermoset.devices.sim.truth import FilmHistory, FilmTruth, film_truth
from systems.thermoset.devices.sim.twins import make_sim_line

__all__ = ["FilmHistory", "FilmTruth", "Lot", "SampleState", "SimAmbient", "SimulatedLab", "film_truth", "make_sim_line"]
