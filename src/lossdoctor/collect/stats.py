"""Tensor statistics of one optimizer step, computed on the device without a host sync.

Every input is detached first, so no autograd graph is built and no ``torch.no_grad`` context
is needed (entering one costs more, per step, than the rest of the hook's Python).

Every function returns a list of 0-d device tensors (one per parameter), as ``_foreach_norm``
gives them: the monitor stacks a whole batch of steps at once when it reads them, one call
instead of one per step. Nothing here writes to a parameter or a gradient: the copies made for
the update ratio are the monitor's own tensors.
"""

from __future__ import annotations

import torch

_LOW = (torch.float16, torch.bfloat16)


def precision(ts: list[torch.Tensor]) -> str:
    """``"full"``, ``"low"`` (all float16/bfloat16) or ``"mixed"``: computed once per parameter
    list, so that :func:`norms` need not look at every dtype every step."""
    low = [t.dtype in _LOW for t in ts]
    return "low" if low and all(low) else ("mixed" if any(low) else "full")


def norms(ts: list[torch.Tensor], prec: str = "mixed") -> list[torch.Tensor]:
    """L2 norm of each tensor. Half-precision tensors are reduced in float32 so that their norms
    neither overflow nor round."""
    if prec == "full":
        return list(torch._foreach_norm(ts))
    if prec == "low":
        return list(torch._foreach_norm(ts, 2, dtype=torch.float32))
    low = [t.dtype in _LOW for t in ts]
    if not any(low):
        return list(torch._foreach_norm(ts))
    if all(low):
        return list(torch._foreach_norm(ts, 2, dtype=torch.float32))
    lo = iter(torch._foreach_norm([t for t, f in zip(ts, low) if f], 2, dtype=torch.float32))
    hi = iter(torch._foreach_norm([t for t, f in zip(ts, low) if not f]))
    return [next(lo) if f else next(hi) for f in low]


def grad_norms(params: list[torch.Tensor], zero: torch.Tensor, prec: str = "mixed") -> list[torch.Tensor]:
    """Per-parameter gradient norms; a parameter without a gradient counts as 0."""
    grads = [p.grad for p in params]
    if all(g is not None for g in grads):  # not "None in grads": that compares tensors, slowly
        if grads[0].requires_grad:  # backward(create_graph=True)
            grads = [g.detach() for g in grads]
        try:
            return norms(grads, prec)
        except (RuntimeError, NotImplementedError):  # sparse gradients (nn.Embedding(sparse=True))
            return [_norm(g) for g in grads]
    present = [g.detach() for g in grads if g is not None]
    if not present:
        return [zero] * len(grads)
    try:
        got = iter(norms(present))
    except (RuntimeError, NotImplementedError):
        got = iter([_norm(g) for g in present])
    return [next(got) if g is not None else zero for g in grads]


def _norm(t: torch.Tensor) -> torch.Tensor:
    """One tensor's L2 norm, whatever its layout: a sparse gradient's entries are summed per
    index first (``coalesce``, a copy; the gradient itself is not changed)."""
    t = t.detach()
    if t.layout == torch.sparse_coo:
        t = t.coalesce().values()
    elif t.layout != torch.strided:
        t = t.values()
    if t.dtype in _LOW:
        return torch.linalg.vector_norm(t, dtype=torch.float32)
    return torch.linalg.vector_norm(t)


def copy(params: list[torch.Tensor], into: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
    """Detached copies of the weights: new tensors, or written into ``into`` (the monitor's own
    buffers, reused on the CPU where every fresh allocation of a large tensor costs page faults;
    on a GPU the caching allocator makes fresh copies cheap and frees the memory between
    samples)."""
    src = [p.detach() for p in params]
    if into is not None:
        torch._foreach_copy_(into, src)
        return into
    return torch._foreach_mul(src, 1.0)  # multiplying by 1.0 is exact


def delta_norms(params: list[torch.Tensor], before: list[torch.Tensor],
                prec: str = "mixed") -> list[torch.Tensor]:
    """||w_after - w_before|| per parameter. ``before`` (the monitor's copy) is overwritten with
    the difference: no further allocation."""
    torch._foreach_sub_(before, [p.detach() for p in params])
    return norms(before, prec)


def grad_weight_dots(params: list[torch.Tensor], weights: list[torch.Tensor]) -> list[torch.Tensor]:
    """<g, w> per parameter as a float32 scalar (0 for a parameter with no dense gradient).
    With the norms it gives the cosine of the gradient and the weights: an L2 penalty added to
    the loss puts ``lambda * w`` inside the gradient, invisible to the optimizer's weight decay,
    and while it holds the weights back the gradient points along them."""
    out = []
    zero = None
    for p, w in zip(params, weights):
        g = p.grad
        if g is None or g.layout != torch.strided:
            if zero is None:
                zero = torch.zeros((), device=w.device, dtype=torch.float32)
            out.append(zero)
            continue
        a, b = g.detach().reshape(-1), w.detach().reshape(-1)
        if a.dtype != b.dtype:  # e.g. low-precision gradients of float32 master weights
            a, b = a.float(), b.float()
        # in the tensors' own dtype: half and bfloat16 dot products accumulate in float32
        # inside torch, and no float32 copy of a large parameter is made on a sampled step
        out.append(torch.dot(a, b).float())
    return out


def coupled_decay_norms(params: list[torch.Tensor], weights: list[torch.Tensor], idx: list[int],
                        wd: float) -> tuple[list[int], list[torch.Tensor] | None]:
    """||g + wd * w|| for the parameters ``idx`` that have a gradient: the effective gradient of
    an L2 penalty added to the loss (SGD, Adam and RMSprop's ``weight_decay``)."""
    keep = [i for i in idx if params[i].grad is not None and params[i].grad.layout == torch.strided]
    if not keep:
        return keep, None
    g = [params[i].grad.detach() for i in keep]
    w = [weights[i].detach() for i in keep]
    if any(a.dtype != b.dtype for a, b in zip(g, w)):
        w = [b.to(a.dtype) for a, b in zip(g, w)]
    return keep, norms(torch._foreach_add(g, w, alpha=wd))
