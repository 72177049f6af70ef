"""Headless Chromium for the dashboard's end-to-end test and latency benchmark.

Debian's chromium (``apt-get install chromium``) driven by Playwright; no browser is
downloaded. ``.ci/run`` installs it and sets ``SDL_REQUIRE_BROWSER=1`` so a missing
browser fails CI instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager

CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str | None:
    return os.environ.get("SDL_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def browser_page(width: int = 1400, height: int = 1600):
    """A Playwright page in headless Chromium (a fresh, empty profile)."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError("no chromium on PATH: apt-get install chromium (or set $SDL_CHROMIUM)")
    profile = tempfile.mkdtemp(prefix="sdl-chromium-")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=path, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": width, "height": height})
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)
