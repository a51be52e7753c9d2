#!/usr/bin/env bash
# Sets everything up and runs the main job: lossdoctor on Jena's case, from logs recorded by
# really training the network of the seed story (examples/jena_*: one network, four runs, one
# per answer of the quiz).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
ld=.venv/bin/lossdoctor
echo "== Jena's loss curve alone (examples/jena_lr_low.csv): which causes fit, which is ruled out"
$ld diagnose examples/jena_lr_low.csv || true          # exit 1 = symptoms found: that is the point
echo
echo "== The same run, with the internals the monitor records (examples/jena_lr_low.jsonl)"
$ld diagnose examples/jena_lr_low.jsonl || true
echo
echo "== All four quiz runs: the curve alone, then with internals"
for run in regularization lr_low local_minimum lr_high; do
  $ld diagnose --quiet "examples/jena_$run.csv" || true
  $ld diagnose --quiet "examples/jena_$run.jsonl" || true
done
