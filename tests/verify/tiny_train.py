"""A small training script as a user writes one, for the verify tests: an MLP on a fixed
synthetic 4-class task, plain SGD, trained under ``lossdoctor.watch``.

    python tiny_train.py --lr 0.003 --steps 400 --log runs/tiny.jsonl [--mode crash|hang|nowatch|crash_late]
"""

import argparse
import sys
import time

import torch
from torch import nn

import lossdoctor


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--wd", type=float, default=0.0)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--log", default="tiny.jsonl")
    ap.add_argument("--mode", default="train")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.mode == "crash":
        raise SystemExit("tiny_train: cannot open the data set")
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    X = torch.randn(512, 16)
    W = torch.randn(16, 4)
    y = (X @ W).argmax(1)
    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 4))
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=args.wd)
    if args.mode == "nowatch":
        for _ in range(20):
            opt.zero_grad()
            nn.functional.cross_entropy(model(X), y).backward()
            opt.step()
        print("trained without the monitor")
        return 0
    with lossdoctor.watch(model, opt, path=args.log, hparams={"num_classes": 4, "max_steps": args.steps},
                          alerts=False) as mon:
        for step in range(args.steps):
            idx = torch.randint(0, 512, (64,))
            loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            mon.step(loss)
            if args.mode == "hang" and step == 5:
                time.sleep(3600)
            if args.mode == "crash_late" and step == 20:
                raise RuntimeError("CUDA out of memory (simulated)")
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
