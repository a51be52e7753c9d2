"""Human titles for the symptom and cause ids of the taxonomy, in one table each.

The ids are a contract (``taxonomy.md``); the titles are free wording, kept short enough for
one table cell at 80 columns. No rich here, so the JSON path and other reports can use them
without paying for rich's import.
"""

from __future__ import annotations

SYMPTOM_TITLES: dict[str, str] = {
    "plateau_then_drop": "Long plateau, then a sudden drop",
    "slow_convergence": "Converging far too slowly",
    "stagnation": "Loss never moves",
    "oscillation": "Loss oscillates",
    "spikes": "Sudden loss spikes",
    "divergence": "Loss diverges",
    "nan_inf": "NaN or infinite values",
    "overfitting": "Overfitting: validation loss rises",
    "generalization_delay": "Delayed generalization (grokking-like)",
}

CAUSE_TITLES: dict[str, str] = {
    "regularization_too_strong": "Regularization too strong",
    "lr_too_low": "Learning rate too low",
    "stuck_plateau": "Stuck at a saddle point or plateau",
    "lr_too_high": "Learning rate too high",
    "lr_schedule": "The LR schedule sets the pace",
    "bad_initialization": "Bad weight initialization",
    "vanishing_gradients": "Vanishing gradients",
    "exploding_gradients": "Exploding gradients",
    "dead_relu": "Dead ReLU units",
    "insufficient_regularization": "Too little regularization",
    "data_problem": "A problem in the data",
    "missing_zero_grad": "Gradients never zeroed",
    "loss_misuse": "Loss function wired wrongly",
}

VERDICT_TITLES: dict[str, str] = {
    "confirmed": "confirmed",
    "likely": "likely",
    "possible": "possible",
    "unlikely": "unlikely",
    "ruled_out": "ruled out",
}


def _fallback(some_id: str) -> str:
    # An id added to the taxonomy before it got a title still reads as words.
    return some_id.replace("_", " ").capitalize()


def symptom_title(symptom_id: str) -> str:
    return SYMPTOM_TITLES.get(symptom_id) or _fallback(symptom_id)


def cause_title(cause) -> str:
    """Title of a cause (a :class:`~lossdoctor.core.Cause` or a bare id): the table's, which
    is sized for the report's layout; for an id the table lacks, the Cause's own ``title``."""
    if isinstance(cause, str):
        return CAUSE_TITLES.get(cause) or _fallback(cause)
    own = getattr(cause, "title", "")
    return CAUSE_TITLES.get(cause.id) or (own[:1].upper() + own[1:]) or _fallback(cause.id)


def verdict_title(verdict: str) -> str:
    return VERDICT_TITLES.get(verdict, verdict.replace("_", " "))
