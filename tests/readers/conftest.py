"""Shared fixtures for the reader tests: the real logs people committed to GitHub and a small
helper to write test files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# Where the real-log fixtures live: LOSSDOCTOR_REALLOGS, else a shared/ folder in or beside
# the clone (CI lays it beside), else this project's shared folder.
_REPO = Path(__file__).resolve().parents[2]
_CANDIDATES = [os.environ.get("LOSSDOCTOR_REALLOGS", ""),
               str(_REPO / "shared" / "reallogs"),
               str(_REPO.parent / "shared" / "reallogs"),
               "/work/shared/reallogs"]


def _reallogs_root() -> Path | None:
    for c in _CANDIDATES:
        if c and (Path(c) / "manifest.json").is_file():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def reallogs() -> Path:
    root = _reallogs_root()
    if root is None:
        pytest.skip("real-log fixtures not found (set LOSSDOCTOR_REALLOGS)")
    return root


@pytest.fixture(scope="session")
def manifest(reallogs) -> dict[str, dict]:
    entries = json.loads((reallogs / "manifest.json").read_text(encoding="utf-8"))
    return {e["case"]: e for e in entries}


@pytest.fixture
def write(tmp_path):
    """write(name, content) -> Path; str content is written as UTF-8 without newline
    translation, bytes as they are."""

    def _write(name: str, content: str | bytes) -> Path:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return p

    return _write
