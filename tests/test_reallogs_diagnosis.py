"""Regression guard on the real logs people committed (``shared/reallogs``): the clean ones must
not alarm, the ones too short or cut early must say so, and what a person saw in the others (a
NaN, a rising validation loss, a loss stuck at its start) must be seen."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import lossdoctor

_REPO = Path(__file__).resolve().parents[1]
ROOT = next((Path(c) for c in (os.environ.get("LOSSDOCTOR_REALLOGS", ""), _REPO / "shared" / "reallogs",
                               _REPO.parent / "shared" / "reallogs", "/work/shared/reallogs")
             if c and (Path(c) / "manifest.json").is_file()), None)
pytestmark = pytest.mark.skipif(ROOT is None, reason="real-log fixtures not found (set LOSSDOCTOR_REALLOGS)")

#: The manifest notes call these runs clean: any symptom or likely cause is a false alarm.
CLEAN = ("real_keras_03", "real_tensorboard_01", "real_tensorboard_03", "real_tensorboard_07", "real_text_02",
         "real_text_06", "real_yolo_01", "real_yolo_03", "real_trainer_state_09")
#: Two epochs; a checkpoint at step 2,500 of 22,486; one at step 1,000 of 25,257.
INCONCLUSIVE = ("real_keras_07", "real_trainer_state_03", "real_trainer_state_11")
#: What the notes describe and the diagnosis must see.
MUST_SHOW = {"real_keras_09": "overfitting",
             "real_yolo_05": "nan_inf", "real_lightning_06": "stagnation"}


def _cases():
    if ROOT is None:
        return {}
    return {e["case"]: e for e in json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))}


def _dx(case: str):
    return lossdoctor.diagnose(ROOT / _cases()[case]["path"])


@pytest.mark.parametrize("case", CLEAN)
def test_clean_real_logs_do_not_alarm(case):
    dx = _dx(case)
    assert dx.healthy is True, [s.summary for s in dx.symptoms]
    assert not dx.likely


@pytest.mark.parametrize("case", INCONCLUSIVE)
def test_short_or_unfinished_real_logs_are_inconclusive(case):
    dx = _dx(case)
    assert dx.healthy is None and dx.inconclusive


@pytest.mark.parametrize("case,symptom", sorted(MUST_SHOW.items()))
def test_what_a_person_saw_in_real_logs_is_seen(case, symptom):
    assert _dx(case).symptom(symptom) is not None
