"""The rules table: one line per cause. A new cause is one module in ``causes/`` plus one line here."""

from .causes import (bad_initialization, data_problem, dead_relu, exploding_gradients,
                     insufficient_regularization, loss_misuse, lr_schedule, lr_too_high, lr_too_low,
                     missing_zero_grad, regularization_too_strong, stuck_plateau, vanishing_gradients)

RULES = (
    regularization_too_strong,
    lr_too_low,
    stuck_plateau,
    lr_too_high,
    lr_schedule,
    bad_initialization,
    vanishing_gradients,
    exploding_gradients,
    dead_relu,
    insufficient_regularization,
    data_problem,
    missing_zero_grad,
    loss_misuse,
)
