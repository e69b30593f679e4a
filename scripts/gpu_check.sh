#!/usr/bin/env bash
# One command for a session on the accelerator machine (one GPU, no network): install,
# run the CUDA tests, run the GPU benchmark; logs and JSON under $OUT. About 8 minutes at
# most: each step has its own time limit, and a failing step does not stop the next.
#
#   OUT=/some/dir bash scripts/gpu_check.sh
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_out}"
mkdir -p "$OUT"
export PYTHONDONTWRITEBYTECODE=1
export CUPY_CACHE_DIR="$OUT/cupy_cache"  # kernels compiled once per run, kept with the logs

step() {  # step NAME SECONDS COMMAND...: runs with a limit, logs, records the exit status
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  echo "$name rc=$rc ${limit}s-limit took=$((SECONDS - t0))s" | tee -a "$OUT/summary.txt"
  tail -n 5 "$OUT/$name.log"
  return 0
}

: >"$OUT/summary.txt"
step env 30 bash -c 'nvidia-smi; nvcc --version; python -c "import sys, numpy, cupy; \
print(sys.version); print(\"numpy\", numpy.__version__, \"cupy\", cupy.__version__); \
print(cupy.cuda.runtime.getDeviceCount(), \"device(s)\")"'
# The CUDA backend needs no compiled extension (kernels compile at first use), so a failed
# install is not fatal: the source tree goes first on the path either way.
step install 100 pip install --no-build-isolation --no-deps -e .
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
step nvcc_ptx 45 python -m pytest -q -p no:cacheprovider tests/test_cuda_sources.py tests/test_cuda_host.py
# Every failure is wanted (no -x); the first run compiles ~100 kernel variants (NVRTC).
step pytest_cuda 210 python -m pytest -m cuda -q -p no:cacheprovider -rs --durations=15 \
  --junitxml="$OUT/pytest_cuda.xml" tests/test_cuda_backend.py
step bench_gpu 120 python benchmarks/bench_gpu.py --json "$OUT/bench_gpu.json"
cat "$OUT/summary.txt"
