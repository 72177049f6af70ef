"""Where experiments run, behind one protocol (``protocol.Executor``): simulations on Dask or
a process pool (``simulations``, worker code in ``simwork``), the robot as a station behind
``robot.RobotExecutor`` (a local RunEngine, or a bluesky-queueserver RE Manager in
``queueserver/``), the one retry policy (``retry``) and the 0MQ proxy (``proxy``).

Kept light: simulator workers import ``simwork``, so nothing here is imported eagerly.
"""
