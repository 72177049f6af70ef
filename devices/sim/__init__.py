"""What every line's simulated twins share: a seeded lab with a simulated clock, seeded fault
injection, and the base of a twin backend. A material system builds its lab and twins on these.

Never imported by runtime code on hardware: a system's ``make_line`` loads its twins lazily.
"""

from devices.sim.twins import FaultInjector, SimTwin, TwinLab

__all__ = ["FaultInjector", "SimTwin", "TwinLab"]
