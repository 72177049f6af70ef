"""``python -m controller.ui.cli``: the same as ``sdl``."""

import sys

from controller.ui.cli import main

sys.exit(main())
