"""A cause's verdict in the making: rules add support or doubt, each with the line of
evidence that a person will read."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Score bands of the verdicts (a rule's weight is how far one piece of evidence moves it).
LIKELY = 0.7
POSSIBLE = 0.3
UNLIKELY = 0.08
#: Where a cause starts when the curve shows a shape it produces / does not produce / no symptom.
BASE_FITS = 0.4
BASE_OTHER = 0.15
BASE_HEALTHY = 0.05
GENERIC_MISFIT = "does not usually produce"


@dataclass
class Finding:
    score: float
    evidence: list[str] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)  # what to log or run to decide
    ruled_out: bool = False
    fix: str = ""
    decisive: bool = False  # some internal evidence spoke (not only the curve)
    keys: dict[str, float] = field(default_factory=dict)  # rules that fired -> hand weight (signed)

    def support(self, key: str, weight: float, line: str) -> None:
        """Evidence for the cause: ``key`` names the rule (the fitted model weighs it; ``weight``
        is its hand-set weight, used where no fitted weight exists), ``line`` says it to a person."""
        self.score += weight
        self.evidence.append(line)
        self.decisive = True
        self.keys[key] = weight

    def against(self, key: str, weight: float, line: str) -> None:
        self.score -= weight
        self.evidence.append(line)
        self.decisive = True
        self.keys[key] = -weight

    def note(self, line: str) -> None:
        self.evidence.append(line)

    def rule_out(self, line: str) -> None:
        self.ruled_out = True
        # the specific reason replaces the generic "does not produce this shape" line
        self.evidence = [e for e in self.evidence if not e.startswith(GENERIC_MISFIT)] + [line]

    def need(self, what: str) -> None:
        self.needs.append(what)

    def verdict(self, healthy: bool) -> str:
        if self.ruled_out:
            return "ruled_out"
        s = self.score
        if s >= LIKELY and not healthy:
            return "likely"
        if s >= POSSIBLE:
            return "possible"
        return "unlikely"

    def final_score(self, healthy: bool) -> float:
        if self.ruled_out:
            return 0.0
        s = min(max(self.score, 0.0), 1.0)
        return min(s, LIKELY - 0.01) if healthy else s
