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
# The executors of `lossdoctor verify` beyond the local pool; their tests start real clusters.
.venv/bin/python -m pip install -q -e ".[dask,ray]" 2>&1 | grep -v "^WARNING: Location" || true
# The browser tests drive Debian's Chromium through Playwright (from the test extra): Playwright's
# own browser download is not reachable here. Without apt (or root) they skip and say why.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  { apt-get install -y -q chromium >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }; } ||
    echo "setup: chromium could not be installed with apt-get; the browser tests will skip" >&2
fi
.venv/bin/python -c "import lossdoctor, torch; print('lossdoctor', lossdoctor.__version__, '| torch', torch.__version__)"
