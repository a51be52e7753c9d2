#!/usr/bin/env bash
# Sets up .venv with lossdoctor and everything its tests and demo use. Idempotent: a second run
# only checks (a few seconds). Each step says what it does; the first install that fails stops
# the script with pip's own message.
#
# torch: `torch==2.13.0` is installed first, explicitly, before anything that depends on it
# (a bare "torch" requirement would let pip pick any build). Which build that is depends on the
# package index pip is configured with: an index or wheel folder that serves the CPU build
# (PyTorch's own CPU index does) gives the ~200 MB CPU wheel; the default index on Linux serves
# the CUDA build (several GB with its nvidia-* packages). To choose, set TORCH_INDEX_URL, e.g.
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu bash scripts/setup.sh
# The script prints which build it got.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_SPEC="torch==2.13.0"
step=""
trap 'status=$?; if [ $status -ne 0 ]; then echo "setup: FAILED while ${step:-starting} (exit $status); see the message above" >&2; fi' EXIT

say() { echo "setup: $*" >&2; }
# pip's progress, one line per package it collects or installs (the rest of its chatter dropped);
# from its first error on, everything it says; its exit status is the pipeline's
pip_() {
  .venv/bin/python -m pip install --progress-bar off "$@" 2>&1 | awk '
    /^(ERROR|error)/ { failed = 1 }
    failed || /^(Collecting|Installing collected|Successfully installed|WARNING: Retrying)/ { print; fflush() }
  ' >&2
}

step="creating .venv"
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $("$PY" --version 2>&1)"
  "$PY" -m venv .venv
fi
t0=$SECONDS
step="installing $TORCH_SPEC"
if .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  say "$TORCH_SPEC already installed"
else
  say "installing $TORCH_SPEC${TORCH_INDEX_URL:+ from $TORCH_INDEX_URL} (the largest download: ~200 MB for the CPU build)"
  pip_ "$TORCH_SPEC" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
fi
step="installing lossdoctor with all extras and the test tools"
say "installing lossdoctor -e .[all,test] (Lightning, Transformers, TensorBoard, scikit-learn, pytest...)"
pip_ -e ".[all,test]"
step="installing the executors of lossdoctor verify (dask, ray)"
say "installing lossdoctor -e .[dask,ray] (the executors of lossdoctor verify beyond the local pool)"
pip_ -e ".[dask,ray]"
step="installing Debian's chromium for the browser tests"
# The browser tests drive Debian's Chromium through Playwright (from the test extra): Playwright's
# own browser download is not reachable here. Without apt (or root) they skip and say why.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  say "installing chromium with apt-get (for the browser tests)"
  { apt-get install -y -q chromium >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }; } ||
    say "chromium could not be installed with apt-get; the browser tests will skip"
fi
step="checking the installation"
.venv/bin/python - <<'EOF' >&2
import lossdoctor, torch
build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU build"
print(f"setup: ready: lossdoctor {lossdoctor.__version__} | torch {torch.__version__} ({build})")
EOF
say "done in $((SECONDS - t0)) s; to call lossdoctor directly: source .venv/bin/activate (or run .venv/bin/lossdoctor)"
step=""
