"""The scenario library's runs as corpus entries of the TUNING split: Jena's plateaus, saddles
at a deep net's origin, a long warm-up and the rest, recorded at several seeds in the monitor's
format and the loss-only ones, with only the hyper-parameters a user would log (the scenarios'
own hyper-parameters name their fault). They are tuning data by definition: the rules were
first written against them. A recording that fails its scenario's self-check is left out.

    python bench/corpus/generate.py --scenarios 5     # seeds 0..4 of every scenario, with the corpus
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

#: What a user typically passes as hyper-parameters; the monitor finds the rest itself.
USER_KEYS = ("lr", "batch_size", "max_steps", "optimizer", "weight_decay", "dropout")


def one(name: str, seed: int, out: str) -> dict[str, Any]:
    import logging
    import shutil
    import warnings

    warnings.simplefilter("ignore")
    logging.getLogger("lossdoctor").setLevel(logging.CRITICAL)
    import torch

    torch.set_num_threads(1)  # one worker per core: intra-op threads on top only fight each other
    from lossdoctor.scenarios import SCENARIOS, record, selfcheck
    from lossdoctor.scenarios.monitored import train_monitored
    from lossdoctor.scenarios.recording import Recording

    from corpus.generate import FORMATS, MONITOR_FILE

    sc = SCENARIOS[name]
    rid = f"s_{name}_{seed}"
    folder = Path(out) / rid
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    entry: dict[str, Any] = {"id": rid, "hash": f"scenario:{name}:{seed}", "split": "tune", "source": "scenarios",
                             "recipe": {"id": rid, "data": name, "kind": "scenario", "seed": seed,
                                        "model": {"family": "scenario"}, "optim": {}, "log": {"every": 1},
                                        "fault": None if sc.cause is None else {"cause": sc.cause, "variant": name},
                                        "split": "tune"}}
    rec = record(name, seed=seed)
    fails = selfcheck(name, rec)
    if fails:
        entry.update(label=None, symptoms=[], why="fails its self-check: " + "; ".join(fails)[:200])
    else:
        hp = {k: v for k, v in rec.hparams.items() if k in USER_KEYS}
        train_monitored(name, folder / MONITOR_FILE, seed=seed, hparams=hp, on_alert=lambda a: None)
        user = Recording(hparams=hp, model=rec.model, rows=rec.rows, steps_per_epoch=rec.steps_per_epoch,
                         meta={"val_every": rec.meta.get("val_every", 0)})
        files = {"monitor": MONITOR_FILE}
        for fmt, fname in FORMATS.items():
            files[fmt] = str(Path(user.write(folder / fname, fmt)).relative_to(folder))
        entry.update(label=sc.cause or "healthy", symptoms=[sc.symptom] if sc.symptom else [],
                     why="a scenario that passes its self-check", files=files)
    entry["seconds"] = round(time.perf_counter() - t0, 2)
    (folder / "label.json").write_text(json.dumps(entry))
    return entry


def jobs(seeds: int) -> list[tuple[str, int]]:
    from lossdoctor.scenarios import SCENARIOS

    return [(n, s) for s in range(seeds) for n in SCENARIOS]
