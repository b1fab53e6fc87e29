#!/usr/bin/env bash
# Reproduce the bundled default model from ../shared/refdata (see docs/default-model.md).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=${NEURALMD_SHARED:-$here/../../../shared}
work=${1:-$here/work}
mkdir -p "$work"
R=$shared/refdata
neuralmd prepare "$R/t4l/seed0/topology.pdb" "$R"/t4l/seed{0,1,2,3}/traj.xtc \
    --ligand "$R/t4l/seed0/ligand.sdf" -o "$work/refdata.h5" --force
(cd "$here" && neuralmd train "$work/refdata.h5" --config config.yaml -o "$work/run" --force --no-progress)
neuralmd evaluate --model "$work/run/checkpoints/last.pt" --data "$work/refdata.h5" \
    --metrics realism,mae,rmse,matching,stability --snapshots 200 --format json > "$work/test_metrics.json"
cat "$work/test_metrics.json"
