#!/usr/bin/env bash
# A short CUDA run of the benchmark suite (a few minutes): the --quick cases on the GPU.
#
#   benchmarks/gpu_check.sh            # on a machine with an NVIDIA GPU and CUDA torch
#   benchmarks/gpu_check.sh cpu        # the same run on the CPU, as a dry check
#
# Results go to benchmarks/results/gpu-check-<device>/ (latest.json, results-*.md).
# The scaling group is left out to keep it short; run `python -m benchmarks --device
# cuda` for everything.
set -euo pipefail

device="${1:-cuda}"
cd "$(dirname "$0")/.."
# The project's virtual environment if there is one, else the interpreter on PATH (GPU
# images often ship only `python3`).
python="${PYTHON:-}"
if [ -z "$python" ]; then
    if [ -x .venv/bin/python ]; then
        python=".venv/bin/python"
    elif command -v python >/dev/null; then
        python="python"
    else
        python="python3"
    fi
fi

if [ "${device%%:*}" = "cuda" ]; then
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    "$python" -c 'import sys, torch; ok = torch.cuda.is_available(); print("torch", torch.__version__, "CUDA", torch.version.cuda, "available:", ok); sys.exit(0 if ok else 3)' \
        || { echo "CUDA is not available to torch: install a CUDA build (make setup TORCH=torch)" >&2; exit 3; }
fi

exec env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE timeout 900 "$python" -m benchmarks --quick \
    --device "$device" --only kmeans dbscan agglomerative hdbscan gmm spectral silhouette overhead \
    --out "benchmarks/results/gpu-check-${device//:/-}"
