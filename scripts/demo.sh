#!/usr/bin/env bash
# Sets everything up and runs the main job: `lossdoctor demo`, Jena's case end to end. It trains
# the seed story's network four times (one run per quiz answer) under the live monitor, shows the
# alerts as they fire, then answers the quiz from the logs: from the curve alone, and with the
# internals that name each run's cause. Under a minute on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
exec .venv/bin/lossdoctor demo "$@"
