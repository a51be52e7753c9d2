#!/usr/bin/env bash
# Sets everything up and runs the main job: lossdoctor on Jena's case, from logs recorded by
# really training the network of the seed story (examples/jena/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
for run in examples/jena/*.jsonl; do
  echo
  echo "=== $run"
  .venv/bin/lossdoctor diagnose "$run" || true   # exit 1 = symptoms found: that is the point
done
