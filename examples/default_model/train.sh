#!/usr/bin/env bash
# Reproduce the bundled default model from ../shared/refdata (about 10 min on 2 CPU cores).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=${NEURALMD_SHARED:-$here/../../../shared}
work=${1:-$here/work}
mkdir -p "$work"
R=$shared/refdata
neuralmd prepare "$R/t4l/seed0/topology.pdb" "$R"/t4l/seed{0,1,2,3}/traj.xtc \
    --ligand "$R/t4l/seed0/ligand.sdf" -o "$work/refdata.h5" --force
neuralmd prepare "$R/11gs/seed0/topology.pdb" "$R/11gs/seed0/traj.xtc" \
    --ligand "$R/11gs/seed0/ligand.sdf" -o "$work/refdata.h5" --append
neuralmd prepare "$R/t4l_ff14sb/seed0/topology.pdb" "$R/t4l_ff14sb/seed0/traj.xtc" \
    --ligand "$R/t4l_ff14sb/seed0/ligand.sdf" -o "$work/refdata.h5" --append
(cd "$here" && neuralmd train "$work/refdata.h5" --config config.yaml -o "$work/run" --force --no-progress)
neuralmd evaluate --model "$work/run/checkpoints/best.pt" --data "$work/refdata.h5" --split test \
    --metrics mae,rmse,matching,stability,rmsd,bonds,clashes --format json > "$work/test_metrics.json"
cat "$work/test_metrics.json"
