"""Activation statistics through forward hooks, only on sampled steps.

The hooks exist only while a step is being sampled: :meth:`ActivationProbe.arm` registers them
before that step's forward pass and :meth:`ActivationProbe.take` removes them, so unsampled steps
pay nothing. Statistics stay on the device until the monitor pulls them with everything else.

- ``dead_frac/<module>`` (ReLU, ReLU6, LeakyReLU, PReLU, RReLU, GELU): share of units whose
  output is <= 0 for every sample of the batch. A unit is a channel for 4-D and 5-D outputs
  (convolutions: ``N, C, H, W``), the last dimension otherwise (``N, F`` and ``N, T, F``).
- ``saturation/<module>`` (Tanh: ``|y| > 0.99``; Sigmoid: ``y < 0.01`` or ``y > 0.99``): share of
  outputs in the flat tails, where the derivative is under ~2% of its peak.
- ``act_std/<module>``: standard deviation of the output (the activation scale by depth).

- ``dead_frac/<layer>.input`` (every Linear and Conv layer but the first): share of its input
  units that are exactly zero for every sample of the batch. This is where dead units land
  whatever made them: a ReLU called as a function (``F.relu``, which has no module to hook) leaves
  the same zeros at the next layer's input as ``nn.ReLU`` does.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .introspect import DEAD_FAMILY, SATURATING

#: Tanh outputs beyond this magnitude are saturated: the derivative 1 - y^2 is below 2%.
TANH_SATURATED = 0.99
#: Sigmoid outputs within this distance of 0 or 1 are saturated: y(1 - y) is below 4% of its peak.
SIGMOID_SATURATED = 0.01
#: Calls of one module recorded per sampled step (a module reused in a loop, several
#: micro-batches): bounds the cost of one sample.
MAX_CALLS = 16

DEAD, SAT, OTHER, DEAD_IN = "dead", "sat", "other", "dead_in"
DENSE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def dense_inputs(model: nn.Module, clean) -> list[tuple[str, nn.Module]]:
    """The Linear and Conv layers whose inputs come from inside the network (all but the first
    registered: its input is the data)."""
    layers = [(clean(n), m) for n, m in model.named_modules() if isinstance(m, DENSE)]
    return layers[1:]


def kind_of(m: nn.Module) -> str:
    if isinstance(m, DEAD_FAMILY):
        return DEAD
    if isinstance(m, SATURATING):
        return SAT
    return OTHER


def _std(y: torch.Tensor) -> torch.Tensor:
    """Standard deviation of all elements, from a sum and a norm (BLAS-fast passes; the default
    ``std`` is ~3x slower on the CPU). Shifting by the first element first keeps the difference
    of squares accurate when the mean is large against the spread (saturated units)."""
    n = y.numel()
    yc = y.float() - y.reshape(-1)[0].float()
    m = yc.sum() / n
    q = torch.linalg.vector_norm(yc)
    return ((q * q / n - m * m).clamp_min(0) * (n / (n - 1))).sqrt()


class ActivationProbe:
    def __init__(self, modules: list[tuple[str, nn.Module]], on_error: Callable[[BaseException], None],
                 inputs: list[tuple[str, nn.Module]] = ()):
        self.modules = [(n, m, kind_of(m)) for n, m in modules] + [(n, m, DEAD_IN) for n, m in inputs]
        self.on_error = on_error
        self._handles: list = []
        self._data: dict[int, list] = {}

    @property
    def armed(self) -> bool:
        return bool(self._handles)

    def arm(self) -> None:
        if self._handles or not self.modules:
            return
        self._data = {}
        for i, (_, m, kind) in enumerate(self.modules):
            if kind == DEAD_IN:
                self._handles.append(m.register_forward_pre_hook(self._make_pre_hook(i)))
            else:
                self._handles.append(m.register_forward_hook(self._make_hook(i, kind)))

    def disarm(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def _make_hook(self, i: int, kind: str):
        def hook(module, inputs, output):
            try:
                if module.training:
                    self._record(i, kind, output)
            except Exception as exc:  # a monitor must never break the forward pass
                self.disarm()
                self.on_error(exc)
            return None
        return hook

    def _make_pre_hook(self, i: int):
        def hook(module, inputs):
            try:
                if module.training and inputs:
                    self._record(i, DEAD_IN, inputs[0], channels=not isinstance(module, nn.Linear))
            except Exception as exc:
                self.disarm()
                self.on_error(exc)
            return None
        return hook

    def _record(self, i: int, kind: str, output, channels: bool = False) -> None:
        # every op below runs on a detached tensor: no autograd graph, no torch.no_grad needed
        y = output[0] if isinstance(output, (tuple, list)) else output
        if not isinstance(y, torch.Tensor) or y.dim() < 2 or y.numel() < 2:
            return
        y = y.detach()
        d = self._data.get(i)
        if d is None:
            # [count tensor, denominator, std of the first call, calls]
            d = self._data[i] = [None, 0, _std(y), 0]
        if d[3] >= MAX_CALLS:
            return
        d[3] += 1
        if kind == DEAD_IN:
            # a unit is dead if it is exactly 0 for every sample (and position): its largest
            # magnitude is 0. Units: channels of a conv's input, the last dimension of a Linear's
            if channels and y.dim() >= 3:
                peak = y.abs().amax(dim=(0, *range(2, y.dim())))
            else:
                peak = y.reshape(-1, y.shape[-1]).abs().amax(0)
            count = (peak == 0).sum()
            denom = peak.numel()
        elif kind == DEAD:
            # a unit is alive if its largest output over the batch (and positions) is > 0: one
            # reduction pass, no boolean copy of the activations
            if y.dim() >= 4:
                peak = y.amax(dim=(0, *range(2, y.dim())))
            else:
                peak = y.reshape(-1, y.shape[-1]).amax(0)
            count = (peak <= 0).sum()
            denom = peak.numel()
        elif kind == SAT:
            if isinstance(self.modules[i][1], nn.Tanh):
                count = (y.abs() > TANH_SATURATED).sum()
            else:
                count = ((y < SIGMOID_SATURATED) | (y > 1.0 - SIGMOID_SATURATED)).sum()
            denom = y.numel()
        else:
            return
        d[0] = count if d[0] is None else d[0] + count
        d[1] += denom

    def take(self):
        """Remove the hooks and hand over what they saw: ``(layout, tensors)`` where layout is a
        list of ``(name, kind, denominator)`` and tensors the matching ``[count, std]`` pairs."""
        self.disarm()
        data, self._data = self._data, {}
        if not data:
            return None
        layout, tensors = [], []
        for i in sorted(data):
            count, denom, std, _ = data[i]
            name, _, kind = self.modules[i]
            layout.append((name, kind, denom))
            tensors.append(count if count is not None else torch.zeros((), device=std.device))
            tensors.append(std)
        return layout, tensors
