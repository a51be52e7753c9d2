"""The child process of an arm of ``lossdoctor.verify(train_fn)``: loads the pickled
``(train_fn, config)`` and calls it; the monitor it starts applies the arm's change
(:mod:`lossdoctor.collect.intervene`) and ends the run after the arm's steps.

    python -m lossdoctor.verify.child train_fn.pkl
"""

from __future__ import annotations

import pickle
import sys


def main(argv: list[str]) -> int:
    with open(argv[0], "rb") as f:
        fn, config = pickle.load(f)  # cloudpickle's output loads with plain pickle
    from ..collect.intervene import ArmStop

    try:
        fn() if config is None else fn(config)
    except ArmStop:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
