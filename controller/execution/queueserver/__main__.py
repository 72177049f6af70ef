"""``python -m controller.execution.queueserver serve``: RE Manager and its document proxy."""

import sys

from controller.execution.queueserver.manager import main

sys.exit(main())
