"""Fixtures of the report tests: a real headless Chromium (Debian's package, driven by
Playwright) and a folder for the screenshots they save."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Without these, a headless Chromium in a sandbox without network floods refused connections
#: (background updates, sync, QUIC probes) and, as root, refuses to start.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
VIEWPORT = {"width": 1280, "height": 900}


@pytest.fixture(scope="session")
def artifacts() -> Path:
    out = ARTIFACTS / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="session")
def chromium(tmp_path_factory):
    """One browser for the session (a fresh profile); each test opens its own pages."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed: scripts/setup.sh installs it with "
                    "apt-get (root and apt needed)")
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM,
            headless=True, args=CHROMIUM_ARGS, viewport=VIEWPORT)
        try:
            yield ctx
        finally:
            ctx.close()


