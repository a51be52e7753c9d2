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
- ``input_rms`` (the first layer with weights, when it is a Linear, Conv or recurrent one and
  its input is floating point): root mean square of the data as the network receives it. Standardised features give ~1,
  pixels in [0, 1] ~0.5; raw pixels or unscaled measurements give tens to thousands (Karpathy's
  "visualize just before the net").
- ``out_min``, ``out_max``, ``out_rowsum_dev`` (the model's own output, its logits): smallest and
  largest output, and the largest distance of a row's sum from 1. Rows of non-negative outputs
  that sum to 1 are probabilities: a softmax applied before a loss that expects logits.
"""

from __future__ import annotations

import time
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

DEAD, SAT, OTHER, DEAD_IN, INPUT, OUTPUT = "dead", "sat", "other", "dead_in", "input", "output"
DENSE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
#: Layers whose input may be the data itself (the first of them in the model is taken).
FIRST = DENSE + (nn.RNNBase,)


def dense_inputs(model: nn.Module, clean) -> list[tuple[str, nn.Module]]:
    """The Linear and Conv layers whose inputs come from inside the network (all but the first
    registered: its input is the data)."""
    layers = [(clean(n), m) for n, m in model.named_modules() if isinstance(m, DENSE)]
    return layers[1:]


def first_layer(model: nn.Module, clean) -> list[tuple[str, nn.Module]]:
    """The layer where the data comes in, when it is a Linear, Conv or recurrent one: the first
    module registered with weights of its own, as a list of at most one ``(name, module)``. A
    model that starts with an embedding or a normalization layer gets none (its first Linear
    sees what that layer made of the data, not the data)."""
    for n, m in model.named_modules():
        if any(True for _ in m.parameters(recurse=False)):
            return [(clean(n), m)] if isinstance(m, FIRST) else []
    return []


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
                 inputs: list[tuple[str, nn.Module]] = (), first: list[tuple[str, nn.Module]] = (),
                 output: nn.Module | None = None):
        self.modules = ([(n, m, kind_of(m)) for n, m in modules] + [(n, m, DEAD_IN) for n, m in inputs]
                        + [(n, m, INPUT) for n, m in first]
                        + ([("output", output, OUTPUT)] if isinstance(output, nn.Module) else []))
        self.on_error = on_error
        self._handles: list = []
        self._data: dict[int, list] = {}
        self.cost = 0.0  # seconds spent in the hooks since the last arm()

    @property
    def armed(self) -> bool:
        return bool(self._handles)

    def arm(self) -> None:
        if self._handles or not self.modules:
            return
        self._data = {}
        self.cost = 0.0
        for i, (_, m, kind) in enumerate(self.modules):
            if kind in (DEAD_IN, INPUT):
                self._handles.append(m.register_forward_pre_hook(self._make_pre_hook(i, kind)))
            else:
                self._handles.append(m.register_forward_hook(self._make_hook(i, kind)))

    def disarm(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def _make_hook(self, i: int, kind: str):
        def hook(module, inputs, output):
            t0 = time.perf_counter()
            try:
                if module.training:
                    self._record(i, kind, output)
            except Exception as exc:  # a monitor must never break the forward pass
                self.disarm()
                self.on_error(exc)
            self.cost += time.perf_counter() - t0
            return None
        return hook

    def _make_pre_hook(self, i: int, kind: str = DEAD_IN):
        def hook(module, inputs):
            t0 = time.perf_counter()
            try:
                if module.training and inputs:
                    self._record(i, kind, inputs[0], channels=not isinstance(module, nn.Linear))
            except Exception as exc:
                self.disarm()
                self.on_error(exc)
            self.cost += time.perf_counter() - t0
            return None
        return hook

    def _record(self, i: int, kind: str, output, channels: bool = False) -> None:
        if kind == OUTPUT:  # a model may return a tuple or an object holding its logits
            return self._record_output(i, output)
        # every op below runs on a detached tensor: no autograd graph, no torch.no_grad needed
        y = output[0] if isinstance(output, (tuple, list)) else output
        if not isinstance(y, torch.Tensor) or y.dim() < 2 or y.numel() < 2:
            return
        if kind == INPUT:  # the data as it arrives, once per sampled step (not per loop call)
            if i not in self._data and y.is_floating_point() and y.layout == torch.strided:
                y = y.detach()
                rms = torch.linalg.vector_norm(y, dtype=torch.float32) / (y.numel() ** 0.5)
                self._data[i] = [rms, 1, rms, 1]
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

    def _record_output(self, i: int, output) -> None:
        y = _logits(output)
        if i in self._data or y is None or y.numel() < 2 or not y.is_floating_point() or y.layout != torch.strided:
            return
        y = y.detach().float()
        rows = y.reshape(-1, y.shape[-1]) if y.dim() >= 2 else y.reshape(1, -1)
        dev = (rows.sum(-1) - 1.0).abs().amax()
        self._data[i] = [torch.stack((y.amin(), y.amax(), dev)), 1, dev, 1]

    def take(self):
        """Remove the hooks and hand over what they saw: ``(layout, tensors)`` where layout is a
        list of ``(name, kind, denominator)`` and tensors the matching ``[count, std]`` pairs
        (``[min, max, row-sum deviation]`` for the output; see :func:`widths`)."""
        self.disarm()
        data, self._data = self._data, {}
        if not data:
            return None
        layout, tensors = [], []
        for i in sorted(data):
            count, denom, std, _ = data[i]
            name, _, kind = self.modules[i]
            layout.append((name, kind, denom))
            if kind == OUTPUT:  # [min, max, largest row-sum deviation from 1]
                tensors.extend(count.unbind(0))
                continue
            tensors.append(count if count is not None else torch.zeros((), device=std.device))
            tensors.append(std)
        return layout, tensors


def widths(layout) -> list[int]:
    """Where each layer's values start in :meth:`ActivationProbe.take`'s tensors (2 per layer:
    count and std; 3 for the model's output: min, max, row-sum deviation)."""
    out, k = [], 0
    for _, kind, _ in layout:
        out.append(k)
        k += 3 if kind == OUTPUT else 2
    return out


def _logits(output):
    """The tensor a model returned: itself, the first of a tuple, or an output object's
    ``logits`` (Hugging Face); ``None`` for anything else."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    y = getattr(output, "logits", None)
    return y if isinstance(y, torch.Tensor) else None
