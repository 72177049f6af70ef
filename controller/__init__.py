"""The closed loop and everything around it, in rooms that import only downwards.

============  =================================================================  ==================
room          owns                                                               never imports
============  =================================================================  ==================
``records``   the record store (facade, SQLite/PostgreSQL backends, Alembic      any other room
              migrations), samples, history frames, ``open_store``
``config``    campaign file -> validated, frozen ``CampaignConfig``, one module  execution, loop,
              per section                                                        analysis, ui
``execution`` one ``Executor`` protocol: simulations (Dask / a pool), the robot  loop, analysis, ui
              (a local station or a queue server's), the retry policy
``loop``      the runner (a small state machine), dispatch, the control and      analysis, ui
              approval gate, crash recovery, ``build_strategy``
``analysis``  explanations, backtests, the read models of dashboard and report   ui
``ui``        the ``sdl`` CLI, the web dashboard, reports, monitor, 0MQ stream   (nobody imports ui)
============  =================================================================  ==================

``tests/test_import_graph.py`` keeps these rules and the whole project free of import
cycles (imports inside functions count). Kept light on purpose: simulator worker processes
import ``controller.execution.simwork`` without pulling in torch or bluesky, so no package
``__init__`` here imports a heavy module.
"""
