"""The public API is small, documented and torch-free at import."""

import subprocess
import sys

import lossdoctor


def test_public_api_is_exactly_this():
    assert sorted(lossdoctor.__all__) == sorted([
        "read", "read_all", "diagnose", "diagnose_all", "watch", "verify", "Run", "Series", "Symptom", "Cause",
        "Diagnosis", "ArmResult", "LogError", "TrainingStopped", "LossdoctorAlert", "Alert", "__version__"])
    for name in lossdoctor.__all__:
        obj = getattr(lossdoctor, name)
        assert name == "__version__" or obj.__doc__, name


def test_import_does_not_load_torch_or_rich():
    code = "import sys, lossdoctor; print('torch' in sys.modules, 'rich' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_training_stopped_and_alerts_are_importable_from_lossdoctor_without_torch():
    # issue 11, item 16: `except lossdoctor.TrainingStopped` needs the class at the top, and a
    # script that only reads logs must be able to name it without torch being loaded
    code = ("import sys, lossdoctor\n"
            "from lossdoctor import TrainingStopped, LossdoctorAlert, Alert\n"
            "from lossdoctor.collect import TrainingStopped as T2\n"
            "assert T2 is TrainingStopped and issubclass(LossdoctorAlert, UserWarning)\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]
