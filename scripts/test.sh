#!/usr/bin/env bash
# Sets everything up (.venv, torch CPU, all extras) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
