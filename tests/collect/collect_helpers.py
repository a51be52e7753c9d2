"""Helpers for the monitor's tests: tiny models and data, log reading. (A module with a name of
its own, not a conftest: test folders without __init__.py share one ``conftest`` module name.)"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402


def mlp(seed: int = 0, act=nn.ReLU, dropout: float = 0.0, n_in: int = 10, hidden: int = 16,
        n_out: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    layers = [nn.Linear(n_in, hidden), act()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers += [nn.Linear(hidden, hidden), act(), nn.Linear(hidden, n_out)]
    return nn.Sequential(*layers)


def data(n: int = 64, n_in: int = 10, n_out: int = 4, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, n_in, generator=g)
    y = torch.randint(0, n_out, (n,), generator=g)
    return x, y


def read_log(path: Path) -> tuple[dict, list[dict], list[dict]]:
    """(header, step records, events) of a monitor log, parsed strictly (no bare NaN)."""
    def strict(tok):
        raise ValueError(f"non-JSON token {tok}")

    header, recs, events = None, [], []
    for line in Path(path).read_text().splitlines():
        rec = json.loads(line, parse_constant=strict)
        if rec.get("type") == "header":
            header = rec
        elif rec.get("type") == "event":
            events.append(rec)
        else:
            recs.append(rec)
    return header, recs, events


def num(v) -> float:
    """A logged value as a float (the strings "NaN"/"Infinity" included)."""
    return float(v) if not isinstance(v, str) else {"NaN": math.nan, "Infinity": math.inf,
                                                     "-Infinity": -math.inf}[v]
