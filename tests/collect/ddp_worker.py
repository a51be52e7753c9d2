"""Two-process DDP run on gloo for test_ddp.py: ``python ddp_worker.py OUT_DIR``.

Phase 1 trains normally (each rank its own batch) and writes each rank's losses and gradient
norms next to the log. Phase 2 makes the gradients NaN; rank 0's ``on_alert`` stops the run,
and every rank must raise TrainingStopped at the same step (a rank left behind would hang).
"""

import json
import math
import multiprocessing
import sys
from pathlib import Path

STEPS = 6


def worker(rank: int, world: int, out: str) -> None:
    # imported here: the parent only starts the processes and needs no torch (seconds saved)
    import torch
    import torch.distributed as dist
    from torch import nn
    from torch.nn import functional as F
    from torch.nn.parallel import DistributedDataParallel as DDP

    from lossdoctor.collect import TrainingStopped, watch

    out = Path(out)
    dist.init_process_group("gloo", init_method=f"file://{out / 'init'}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = DDP(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(100 + rank)
    x, y = torch.randn(32, 8, generator=g), torch.randint(0, 3, (32,), generator=g)
    res = {"losses": [], "gn": []}
    with watch(model, opt, out / "run.jsonl", detail="full", act_every=1, alerts=True) as mon:
        for _ in range(STEPS):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            res["gn"].append(math.sqrt(sum(p.grad.norm().item() ** 2 for p in model.parameters())))
            opt.step()
            res["losses"].append(loss.item())
            mon.step(loss)

    def stop(alert):
        raise TrainingStopped(alert)

    res["stopped_at"] = None
    try:
        with watch(model, opt, out / "stop.jsonl", sync_every=1, on_alert=stop) as mon:
            for s in range(40):
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                if s == 3:
                    for p in model.parameters():
                        p.grad.fill_(math.nan)
                opt.step()
                mon.step(loss)
    except TrainingStopped:
        res["stopped_at"] = s
    (out / f"rank{rank}.json").write_text(json.dumps(res))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=worker, args=(r, 2, sys.argv[1])) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(100)
    for p in procs:
        if p.is_alive():  # a hung rank: do not leave it behind
            p.kill()
            p.join()
    sys.exit(max(abs(p.exitcode or 0) if p.exitcode is not None else 1 for p in procs))
