"""The corpus's model families: ``linear`` (logistic / linear regression), ``mlp`` (depth 2-20,
relu / tanh / gelu / sigmoid, as modules or as functions called in ``forward``), ``cnn``
(2-D on pictures, 1-D on text), ``rnn`` (GRU, LSTM or a plain tanh RNN) and ``transformer``
(a tiny encoder). Each takes the input kinds of :mod:`corpus.data` and ends in a Linear head,
optionally followed by a softmax or sigmoid (the loss-wiring bug).

Initialisation: ``init`` is PyTorch's ``default`` or one of :data:`INITS` for every Linear and
Conv weight; ``init_scale`` then multiplies every weight matrix (a gain that is off),
``last_scale`` the head's alone, and ``bias_init`` fills the hidden layers' biases.
"""

from __future__ import annotations

import math
from typing import Any

FAMILIES = ("linear", "mlp", "cnn", "rnn", "transformer")
INITS = ("default", "kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform", "orthogonal")
ACTS = ("relu", "tanh", "gelu", "sigmoid")
#: Input kinds each family takes (see corpus.data.Data.kind).
TAKES = {
    "linear": ("flat", "seq"),
    "mlp": ("flat", "seq"),
    "cnn": ("image", "seq"),
    "rnn": ("seq", "rows"),
    "transformer": ("seq", "rows"),
}


def _act_module(act: str):
    from torch import nn

    return {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "sigmoid": nn.Sigmoid}[act]()


def _act_fn(act: str):
    import torch
    from torch.nn import functional as F

    return {"relu": F.relu, "tanh": torch.tanh, "gelu": F.gelu, "sigmoid": torch.sigmoid}[act]


def build(spec: dict[str, Any], data) -> Any:
    """An ``nn.Module`` for ``spec`` (a recipe's ``model`` part) on ``data``."""
    import torch
    from torch import nn

    fam = spec["family"]
    C = data.n_classes
    width = int(spec.get("width", 64))
    depth = int(spec.get("depth", 2))
    act = spec.get("act", "relu")
    dropout = float(spec.get("dropout", 0.0))
    if fam == "linear":
        model = _Linear(data, C)
    elif fam == "mlp":
        model = _MLP(data, C, width, depth, act, dropout, bool(spec.get("functional", False)),
                     bool(spec.get("residual", False)))
    elif fam == "cnn":
        model = _CNN(data, C, width, depth, act, dropout)
    elif fam == "rnn":
        model = _RNN(data, C, width, depth, spec.get("cell", "gru"), dropout)
    elif fam == "transformer":
        model = _Transformer(data, C, width, depth, dropout)
    else:
        raise ValueError(f"unknown family {fam!r}")
    model.out_act = spec.get("out_act")
    with torch.no_grad():
        _init(model, spec, act)
    return model


def _init(model, spec: dict[str, Any], act: str) -> None:
    from torch import nn

    init = spec.get("init", "default")
    scale = float(spec.get("init_scale", 1.0))
    bias = spec.get("bias_init")
    dense = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]
    gain_act = act if act in ("relu", "tanh", "sigmoid") else "relu"
    for m in dense:
        w = m.weight
        if init == "kaiming_normal":
            nn.init.kaiming_normal_(w, nonlinearity="relu")
        elif init == "kaiming_uniform":
            nn.init.kaiming_uniform_(w, nonlinearity="relu")
        elif init == "xavier_normal":
            nn.init.xavier_normal_(w, gain=nn.init.calculate_gain(gain_act))
        elif init == "xavier_uniform":
            nn.init.xavier_uniform_(w, gain=nn.init.calculate_gain(gain_act))
        elif init == "orthogonal":
            nn.init.orthogonal_(w, gain=nn.init.calculate_gain(gain_act))
        if init != "default" and m.bias is not None:
            m.bias.zero_()
    if scale != 1.0:
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.mul_(scale)
    last = getattr(model, "head", None)
    if last is not None and float(spec.get("last_scale", 1.0)) != 1.0:
        last.weight.mul_(float(spec["last_scale"]))
        last.bias.mul_(float(spec["last_scale"]))
    if bias is not None:
        for m in dense:
            if m is not last and m.bias is not None:
                m.bias.fill_(float(bias))


def _finish(model, x):
    import torch

    out = model.head(x)
    oa = getattr(model, "out_act", None)
    if oa == "softmax":
        return torch.softmax(out, dim=-1)
    if oa == "sigmoid":
        return torch.sigmoid(out)
    return out


def _classes():
    from torch import nn

    class Linear(nn.Module):
        def __init__(self, data, C):
            super().__init__()
            if data.kind == "seq":
                self.embed = nn.Embedding(data.n_vocab, 8)
                d = 8 * data.shape[0]
            else:
                self.embed = None
                d = math.prod(data.shape)
            self.head = nn.Linear(d, C)

        def forward(self, x):
            x = self.embed(x) if self.embed is not None else x
            return _finish(self, x.flatten(1))

    class MLP(nn.Module):
        def __init__(self, data, C, width, depth, act, dropout, functional, residual=False):
            super().__init__()
            if data.kind == "seq":
                self.embed = nn.Embedding(data.n_vocab, 8)
                d = 8 * data.shape[0]
            else:
                self.embed = None
                d = math.prod(data.shape)
            self.fn = _act_fn(act) if functional else None
            self.residual = residual
            blocks = []
            for _ in range(max(depth - 1, 0)):
                block = [nn.Linear(d, width)] + ([] if functional else [_act_module(act)])
                if dropout:
                    block.append(nn.Dropout(dropout))
                blocks.append(nn.Sequential(*block))
                d = width
            self.body = nn.ModuleList(blocks)
            self.head = nn.Linear(d, C)

        def forward(self, x):
            x = self.embed(x) if self.embed is not None else x
            x = x.flatten(1)
            for i, block in enumerate(self.body):
                h = block[0](x)
                if self.fn is not None:
                    h = self.fn(h)
                for m in list(block)[1:]:
                    h = m(h)
                # a skip around every hidden layer after the first keeps the gradient flowing
                x = x + h if self.residual and i > 0 else h
            return _finish(self, x)

    class CNN(nn.Module):
        def __init__(self, data, C, width, depth, act, dropout):
            super().__init__()
            ch = max(4, min(width, 16))
            self.text = data.kind == "seq"
            if self.text:
                self.embed = nn.Embedding(data.n_vocab, 16)
                conv, c_in, pool = nn.Conv1d, 16, nn.AdaptiveMaxPool1d(1)
            else:
                self.embed = None
                conv, c_in, pool = nn.Conv2d, data.shape[0], nn.AdaptiveAvgPool2d(1)
            layers = []
            for _ in range(max(depth - 1, 1)):
                layers += [conv(c_in, ch, 3, padding=1), _act_module(act)]
                if dropout:
                    layers.append(nn.Dropout(dropout))
                c_in = ch
            self.body = nn.Sequential(*layers)
            self.pool = pool
            self.head = nn.Linear(ch, C)

        def forward(self, x):
            if self.text:
                x = self.embed(x).transpose(1, 2)
            x = self.pool(self.body(x)).flatten(1)
            return _finish(self, x)

    class RNN(nn.Module):
        def __init__(self, data, C, width, depth, cell, dropout):
            super().__init__()
            h = max(8, min(width, 64))
            if data.kind == "seq":
                self.embed = nn.Embedding(data.n_vocab, 16)
                d = 16
            else:
                self.embed = None
                d = data.shape[-1]
            kind = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}[cell]
            layers = max(1, min(depth - 1, 2))
            self.rnn = kind(d, h, num_layers=layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
            self.head = nn.Linear(h, C)

        def forward(self, x):
            x = self.embed(x) if self.embed is not None else x
            out, _ = self.rnn(x)
            return _finish(self, out[:, -1])

    class Transformer(nn.Module):
        def __init__(self, data, C, width, depth, dropout):
            super().__init__()
            d = 32 if width >= 32 else 16
            self.seq = data.kind == "seq"
            T = data.shape[0]
            self.embed = nn.Embedding(data.n_vocab, d) if self.seq else nn.Linear(data.shape[-1], d)
            self.pos = nn.Parameter(0.02 * __import__("torch").randn(1, T, d))
            layer = nn.TransformerEncoderLayer(d, nhead=2, dim_feedforward=2 * d, dropout=dropout,
                                               batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, num_layers=max(1, min(depth - 1, 2)),
                                                 enable_nested_tensor=False)
            self.head = nn.Linear(d, C)

        def forward(self, x):
            x = self.embed(x) + self.pos
            x = self.encoder(x)
            return _finish(self, x[:, -1] if self.seq else x.mean(1))

    return {"linear": Linear, "mlp": MLP, "cnn": CNN, "rnn": RNN, "transformer": Transformer}


_CACHE: dict[str, Any] = {}


def _cls(name: str):
    if not _CACHE:
        _CACHE.update(_classes())
    return _CACHE[name]


def _Linear(*a):  # noqa: N802
    return _cls("linear")(*a)


def _MLP(*a):  # noqa: N802
    return _cls("mlp")(*a)


def _CNN(*a):  # noqa: N802
    return _cls("cnn")(*a)


def _RNN(*a):  # noqa: N802
    return _cls("rnn")(*a)


def _Transformer(*a):  # noqa: N802
    return _cls("transformer")(*a)
