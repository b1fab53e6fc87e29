#!/usr/bin/env bash
# GPU scaling of the default model: batch 1-1,024 on t4l and 11gs, eager and compiled, one
# `neuralmd benchmark` run per complex (OpenMM's CUDA platform in the same run when present).
# Prepared for a device session: about 4 minutes on one H200 (20 snapshots, 3 repeats; the
# compilation is shared by every batch size). Writes gpu_<complex>.json into OUT (default: .).
#
#   bash benchmarks/gpu_scaling.sh [OUT] [SHARED]
set -euo pipefail
out=${1:-.}
shared=${2:-../shared}
mkdir -p "$out"
for c in t4l 11gs; do
  d="$shared/refdata/$c/seed0"
  timeout 150 neuralmd benchmark "$d/topology.pdb" "$d/ligand.sdf" --device cuda \
    --batch 1,8,32,128,512,1024 --snapshots 20 --repeats 3 --compile both --ensemble-snapshots 0 \
    --openmm-system "$d/openmm_system.xml" --openmm-integrator "$d/openmm_integrator.xml" \
    --openmm-state "$d/openmm_state.xml" --openmm-ps 4 --format json > "$out/gpu_$c.json" \
    || echo "gpu_scaling: $c did not finish (exit $?)" >&2
done
