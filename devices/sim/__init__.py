"""Simulated twins of the line for dry runs, and the hidden truth of the films they make.

Never imported by runtime code on hardware; ``devices.make_sim_line`` loads it lazily.
"""

from devices.sim.lab import Lot, SampleState, SimAmbient, SimulatedLab
from devices.sim.truth import FilmHistory, FilmTruth, film_truth
from devices.sim.twins import make_sim_line

__all__ = ["FilmHistory", "FilmTruth", "Lot", "SampleState", "SimAmbient", "SimulatedLab", "film_truth", "make_sim_line"]
