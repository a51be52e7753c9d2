"""Train one scenario under ``lossdoctor.watch``, as a user's script would:

    python -m lossdoctor.scenarios.train jena_lr_low --out runs/jena [--seed 0] [--steps N]

writes ``<out>/<name>.jsonl``. It is the script ``lossdoctor verify`` reruns in the benchmarks
and the demo (``lossdoctor verify -- python -m lossdoctor.scenarios.train jena_lr_low --out ...``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lossdoctor.scenarios.train",
                                 description="train one scenario under lossdoctor.watch")
    ap.add_argument("name", help="the scenario (see `lossdoctor scenarios list`)")
    ap.add_argument("--out", required=True, help="folder for the monitor log (<name>.jsonl)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=None, help="cut (or extend) the run")
    args = ap.parse_args(argv)
    from . import SCENARIOS
    from .monitored import train_monitored

    if args.name not in SCENARIOS:
        ap.error(f"unknown scenario {args.name!r}")
    import torch

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train_monitored(args.name, out / f"{args.name}.jsonl", seed=args.seed, steps=args.steps, alerts=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
