"""Fixtures of the monitor's tests."""

from pathlib import Path

import pytest


@pytest.fixture
def log_path(tmp_path) -> Path:
    return tmp_path / "run.jsonl"
