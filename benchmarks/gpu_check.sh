#!/usr/bin/env bash
# Full-size SVD-XT (and LTX-Video 2B, HunyuanVideo 1.5 I2V 480p 8.3B) speed and VRAM check on a
# CUDA machine: one command, under 8 minutes on an H200 (the runs past the time budget are
# recorded as skipped). See benchmarks/gpu_check.py for what is measured.
#
#   benchmarks/gpu_check.sh --runs hunyuanvideo-1.5-480p
#                                       HunyuanVideo 1.5 alone: random bf16 weights (about
#                                       34 GB written to benchmarks/work/ first), 121 frames of
#                                       480x848, 25 steps with guidance, VAE tiling; needs a
#                                       card of 48 GiB or more (predicted peak 45.8 GiB)
#
#   benchmarks/gpu_check.sh prepare     here, with PyPI reachable: fetch the wheels the GPU
#                                       machine lacks (diffusers) into .whl/ (git-ignored)
#   benchmarks/gpu_check.sh [ARGS]      on the GPU machine (carry .whl): install those wheels
#                                       if diffusers is missing, then run the check
#   benchmarks/gpu_check.sh --dry-run   anywhere: the same script on the CPU, tiny model
#
# Then the memory planner's check (benchmarks/memory_gpu.py --quick): predicted vs measured
# peak per stage of the same full-size model, no offload (issue: within 10%).
# Results: benchmarks/results/gpu_check.json and memory_gpu.json, and the same in $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -x .venv/bin/python ]; then PY=${PYTHON:-.venv/bin/python}; else PY=${PYTHON:-python3}; fi

if [ "${1:-}" = "prepare" ]; then
    version=$($PY -c 'import diffusers; print(diffusers.__version__)')
    $PY -m pip download -q --no-deps --only-binary=:all: --dest .whl "diffusers==$version"
    ls -l .whl
    exit 0
fi

if ! $PY -c 'import diffusers' 2>/dev/null; then
    if ! ls .whl/*.whl >/dev/null 2>&1; then
        echo "gpu_check: diffusers is not installed and .whl/ holds no wheels;" \
             "run 'benchmarks/gpu_check.sh prepare' where PyPI is reachable and carry .whl" >&2
        exit 1
    fi
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/svlab-site .whl/*.whl
    export PYTHONPATH=/tmp/svlab-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1
# 330 s for the speed runs leaves the memory check its ~2 minutes inside the 8.
$PY benchmarks/gpu_check.py --budget-s 330 "$@"
if [ "${1:-}" = "--dry-run" ]; then
    exec $PY benchmarks/memory_gpu.py --dry-run
fi
exec timeout 150 $PY benchmarks/memory_gpu.py --quick
