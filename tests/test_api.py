"""The public API is small, documented and torch-free at import."""

import subprocess
import sys

import lossdoctor


def test_public_api_is_exactly_this():
    assert sorted(lossdoctor.__all__) == sorted([
        "read", "read_all", "diagnose", "diagnose_all", "watch", "verify", "Run", "Series", "Symptom", "Cause",
        "Diagnosis", "ArmResult", "LogError", "__version__"])
    for name in lossdoctor.__all__:
        obj = getattr(lossdoctor, name)
        assert name == "__version__" or obj.__doc__, name


def test_import_does_not_load_torch_or_rich():
    code = "import sys, lossdoctor; print('torch' in sys.modules, 'rich' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
