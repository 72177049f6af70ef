"""``python kill_in_write.py SEQ sdl-args...``: run ``sdl`` with a fault injected from outside the
production code: the process SIGKILLs itself inside the store transaction that finishes sample
SEQ, after its writes and before its commit (the crash test's "during-store-write" moment)."""

import os
import signal
import sys

from controller.records import backends
from controller.records.store import RecordStore
from controller.ui.cli import main

_add_sample = RecordStore.add_sample


def _die(self) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def add_sample(self, sample, documents=None):
    if sample.seq == int(sys.argv[1]):
        # The next commit is this sample's: both backends die there instead.
        backends.SQLiteBackend.commit = _die
        backends.PostgresBackend.commit = _die
    return _add_sample(self, sample, documents)


if __name__ == "__main__":  # Dask's spawned workers import this file again as __mp_main__
    RecordStore.add_sample = add_sample
    sys.exit(main(sys.argv[2:]))
