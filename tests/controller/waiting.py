"""Waiting for something another thread or process does, with a deadline."""

import time


def wait_until(condition, timeout_s: float, what: str, poke=None) -> None:
    """Return once ``condition()`` is true; call ``poke()`` between tries (e.g. to resend)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        if poke is not None:
            poke()
        time.sleep(0.05)
