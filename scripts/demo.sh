#!/usr/bin/env bash
# Sets everything up and runs the main job: `lossdoctor demo`, Jena's case end to end. It trains
# the seed story's network four times (one run per quiz answer) under the live monitor, shows the
# alerts as they fire, then answers the quiz from the logs: from the curve alone, and with the
# internals that name each run's cause. The set-up's first run downloads and installs for a few
# minutes (each step says what it does); the demo itself takes 1-5 minutes on 2 CPU cores,
# depending on what else the machine runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "demo: training four runs (progress below); the logs go to runs/demo/ unless --out says otherwise" >&2
status=0
.venv/bin/lossdoctor demo "$@" || status=$?
echo "demo: to run lossdoctor yourself: source .venv/bin/activate, then e.g. lossdoctor diagnose runs/demo" >&2
exit $status
