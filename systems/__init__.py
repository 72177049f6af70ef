"""The reference material systems, each a plugin loaded through the same seam an outside
lab's package uses (``core.system``: an entry point in group ``sdl.systems`` or a
``module:attribute`` reference). Nothing here imports ``controller``."""
