"""The data model: plain frozen dataclasses shared by readers, collectors, detectors, the
diagnosis and the reports. Nothing here imports torch."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from . import signals as S

SCHEMA = "lossdoctor.diagnosis/1"

SYMPTOMS = (
    "plateau_then_drop", "slow_convergence", "stagnation", "oscillation", "spikes",
    "divergence", "nan_inf", "overfitting", "generalization_delay",
)
CAUSES = (
    "regularization_too_strong", "lr_too_low", "stuck_plateau", "lr_too_high", "lr_schedule",
    "bad_initialization", "vanishing_gradients", "exploding_gradients", "dead_relu",
    "insufficient_regularization", "data_problem", "missing_zero_grad", "loss_misuse",
)
VERDICTS = ("confirmed", "likely", "possible", "unlikely", "ruled_out")


class LogError(ValueError):
    """A log could not be read. The message names the file (and line where it helps)."""


@dataclass(frozen=True, eq=False)
class Series:
    """One named, step-indexed series. ``steps`` are sorted; ``values`` may hold NaN/inf."""

    name: str
    steps: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        if self.steps.shape != self.values.shape:
            raise ValueError(f"series {self.name}: {self.steps.shape} steps, {self.values.shape} values")

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def finite(self) -> "Series":
        """The points whose value is finite."""
        ok = np.isfinite(self.values)
        return self if ok.all() else Series(self.name, self.steps[ok], self.values[ok])

    def at(self, step: float) -> float:
        """Value at the last logged step <= ``step`` (or the first value)."""
        i = int(np.searchsorted(self.steps, step, side="right")) - 1
        return float(self.values[max(i, 0)])


@dataclass(frozen=True, eq=False)
class Run:
    """One training run: named series, hyper-parameters and metadata.

    ``meta`` holds at least ``format`` and ``step_unit`` (``"step"`` or ``"epoch"``);
    ``warnings`` lists what the reader had to repair or skip.
    """

    source: str
    series: Mapping[str, Series]
    hparams: Mapping[str, Any] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def get(self, name: str) -> Series | None:
        s = self.series.get(name)
        return s if s is not None and len(s) else None

    @property
    def loss(self) -> Series | None:
        return self.get(S.LOSS)

    def layers(self, signal: str) -> dict[str, Series]:
        """Per-layer series of one signal, keyed by layer name, in logged order."""
        prefix = signal + "/"
        return {k[len(prefix):]: v for k, v in self.series.items() if k.startswith(prefix) and len(v)}

    @property
    def name(self) -> str:
        return str(self.meta.get("name") or self.source)


@dataclass(frozen=True)
class Symptom:
    id: str
    start: float
    end: float
    confidence: float
    summary: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self, unit: str = "step") -> dict[str, Any]:
        """``start``/``end`` are in ``unit`` (the run's ``step_unit``: step, epoch, ...)."""
        return {"id": self.id, "start": _num(self.start), "end": _num(self.end), "unit": unit,
                "confidence": _unit(self.confidence), "summary": self.summary}


@dataclass(frozen=True)
class Cause:
    id: str
    verdict: str
    score: float
    evidence: tuple[str, ...] = ()
    fix: str = ""
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "verdict": self.verdict, "score": _unit(self.score),
                "evidence": list(self.evidence), "fix": self.fix}


OUTCOMES = ("fixed", "improved", "no_change", "worse", "failed")


@dataclass(frozen=True)
class ArmResult:
    """One verification rerun ("arm"): the script rerun with one change, and what it did to the
    symptom. ``outcome`` is one of :data:`OUTCOMES` (``failed``: the rerun itself did not run);
    ``tests`` the causes the change bears on; ``log`` the arm's own monitor log; ``curve`` its
    loss (for plots, not in the JSON)."""

    arm: str
    tests: tuple[str, ...]
    change: Mapping[str, Any]
    steps: int
    outcome: str
    effect: str
    log: str | None = None
    title: str = ""
    applied: tuple[str, ...] = ()
    seconds: float | None = None
    curve: Series | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"arm": self.arm, "tests": list(self.tests), "change": dict(self.change),
                             "steps": int(self.steps), "outcome": self.outcome, "effect": self.effect,
                             "log": self.log}
        if self.applied:
            d["applied"] = list(self.applied)
        if self.seconds is not None:
            d["seconds"] = round(float(self.seconds), 2)
        return d


@dataclass(frozen=True)
class Diagnosis:
    """What a run shows and why. ``healthy`` is ``True``, ``False`` (symptoms found) or ``None``
    when the log cannot be judged; ``inconclusive`` then says why in one line (too few points, a
    run stopped early in its own schedule, a red flag in the hyper-parameters)."""

    source: str
    healthy: bool | None
    symptoms: tuple[Symptom, ...]
    causes: tuple[Cause, ...]
    missing: tuple[str, ...] = ()  # evidence that was not logged and what to log to decide
    warnings: tuple[str, ...] = ()
    run: Run | None = field(default=None, repr=False, compare=False)
    inconclusive: str | None = None
    verification: tuple[ArmResult, ...] = ()  # reruns by `lossdoctor verify`, when there were any

    @property
    def likely(self) -> tuple[Cause, ...]:
        return tuple(c for c in self.causes if c.verdict in ("confirmed", "likely"))

    def cause(self, cause_id: str) -> Cause | None:
        return next((c for c in self.causes if c.id == cause_id), None)

    def symptom(self, symptom_id: str) -> Symptom | None:
        return next((s for s in self.symptoms if s.id == symptom_id), None)

    @property
    def step_unit(self) -> str:
        """What the steps of the symptoms' spans count: ``step``, ``epoch``, ``row``..."""
        unit = self.run.meta.get("step_unit") if self.run is not None else None
        return str(unit or "step")

    def to_dict(self) -> dict[str, Any]:
        unit = self.step_unit
        # every key is always there, empty lists too: a script can index without checking
        return {
            "schema": SCHEMA,
            "source": self.source,
            "healthy": self.healthy,  # None: the log could not be judged, and "inconclusive" says why
            "inconclusive": self.inconclusive,
            "step_unit": unit,
            "symptoms": [s.to_dict(unit) for s in self.symptoms],
            "causes": [c.to_dict() for c in self.causes],
            "missing_evidence": list(self.missing),
            "warnings": list(self.warnings),
            **({"verification": [a.to_dict() for a in self.verification]} if self.verification else {}),
        }

    def to_json(self, indent: int | None = 2) -> str:
        import json

        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)


def _unit(x: float) -> float:
    """A confidence or score for JSON: in [0, 1], 3 decimals, never NaN."""
    x = float(x)
    return round(min(max(x, 0.0), 1.0), 3) if math.isfinite(x) else 0.0


def _num(x: float) -> float | int:
    x = float(x)
    if not math.isfinite(x):
        return 0
    return int(x) if x.is_integer() else round(x, 4)
