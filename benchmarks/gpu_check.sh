#!/usr/bin/env bash
# One machine check for a GPU (or, with --device cpu, for this CPU): device and versions, bench_vision,
# bench_loader (torchvision and DALI), a short `run-imagenet --preset paper` slice on a generated 100-class
# ImageNet-shaped folder through every stage, and the same under `torchrun --nproc_per_node=1`; everything
# goes into OUT_DIR/gpu_check.json (logs in OUT_DIR/logs). No network. Exit 0 when every step passed.
#
#   benchmarks/gpu_check.sh OUT_DIR                 # one CUDA GPU, meant to finish in under 8 minutes
#   benchmarks/gpu_check.sh OUT_DIR --device cpu    # shrunk sizes; runs here (slow test suite)
#
# Uses $PYTHON (default: python3) with torch, torchvision and this repository importable.
set -euo pipefail
if [ $# -lt 1 ] || [[ "$1" == -* ]]; then
    echo "usage: benchmarks/gpu_check.sh OUT_DIR [--device cuda|cpu]" >&2
    exit 2
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
exec "${PYTHON:-python3}" benchmarks/gpu_check.py "$@"
