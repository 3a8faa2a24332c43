#!/usr/bin/env bash
# One machine check for a GPU (or, with --device cpu, for this CPU), meant to finish in under 5 minutes on one
# H200 with 16 CPU cores: versions; a generated ImageNet-100-shaped JPEG folder; loader images/s (PIL, the gpu
# loader, DALI when installed); the pretraining step alone vs loader + step; a --preset paper slice through every
# stage with each stage's wall time; the same under `torchrun --nproc_per_node=1`; the full preset's estimated
# wall time. OUT_DIR/gpu_check.json is rewritten after every step (logs in OUT_DIR/logs). No network.
#
#   benchmarks/gpu_check.sh OUT_DIR                 # one CUDA GPU
#   benchmarks/gpu_check.sh OUT_DIR --device cpu    # shrunk sizes; runs here (slow test suite)
#
# Uses $PYTHON (default: the checkout's .venv/bin/python when there is one, else python3) with torch, torchvision, kornia and this repository importable; kornia can be
# installed from wheels on a machine without network (docs/full-scale.md, "The GPU check"). Exit 0 when every
# step passed.
set -euo pipefail
if [ $# -lt 1 ] || [[ "$1" == -* ]]; then
    echo "usage: benchmarks/gpu_check.sh OUT_DIR [--device cuda|cpu] [--budget SECONDS]" >&2
    exit 2
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
if ! "$PYTHON" -c "import torch, torchvision" 2>/dev/null; then
    echo "benchmarks/gpu_check.sh: $PYTHON cannot import torch and torchvision; set PYTHON to an environment that has them (e.g. PYTHON=.venv/bin/python)" >&2
    exit 2
fi
exec "$PYTHON" benchmarks/gpu_check.py "$@"
