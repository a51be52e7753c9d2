#!/usr/bin/env bash
# Sets up .venv with lossdoctor and everything its tests and demo use. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
# The CPU build of torch first: a bare "torch" requirement would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install -q -e ".[all,test]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import lossdoctor, torch; print('lossdoctor', lossdoctor.__version__, '| torch', torch.__version__)"
