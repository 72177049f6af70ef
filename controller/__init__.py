"""The closed loop: campaign files, the record store, the runner and the ``sdl`` CLI.

Kept light on purpose: simulator worker processes import ``controller.execution.simwork``
without pulling in torch or bluesky.
"""
