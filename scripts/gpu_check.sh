#!/usr/bin/env bash
# One command for a session on the accelerator machine (one GPU, no network): the CUDA tests
# and the GPU benchmark, logs and JSON under $OUT. Each step has its own time limit, and a
# failing step does not stop the next. Steps to run are named on the command line (default:
# env tests metrics sweep bench; "install" builds the C++ extension, which the CUDA path does not
# need, kernels compiling at first use with the source tree first on the path, but which
# makes the host side of the metric tests faster than Numba's first-use compiles).
#
#   OUT=/some/dir bash scripts/gpu_check.sh [env] [install] [tests] [metrics] [sweep] [bench]
#
# The default steps need about 8 minutes on an H200 (tests 40-55 s, metrics 85-140 s with
# Numba compiling the host side, sweep 60-90 s, bench 30-45 s); give the call 9 minutes.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_out}"
mkdir -p "$OUT"
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
export METRICORE_KERNEL_CACHE=/tmp/metricore_kernels  # compiled once per run, not sent back
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
STEPS="${*:-env tests metrics sweep bench}"

step() {  # step NAME SECONDS COMMAND...: runs with a limit, logs, records the exit status
  local name=$1 limit=$2; shift 2
  case " $STEPS " in *" $name "*) ;; *) return 0 ;; esac
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  echo "$name rc=$rc ${limit}s-limit took=$((SECONDS - t0))s" | tee -a "$OUT/summary.txt"
  tail -n 25 "$OUT/$name.log"
  return 0
}

: >"$OUT/summary.txt"
step env 30 bash -c 'nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; \
python -c "import sys, numpy, cupy, numba; print(sys.version.split()[0], \"numpy\", \
numpy.__version__, \"cupy\", cupy.__version__, \"numba\", numba.__version__, \
cupy.cuda.runtime.getDeviceCount(), \"device(s)\")"'
step install 150 python -m pip install --no-build-isolation --no-deps -e .  # this python's pip
# The metric tests compare with the same metrics on the host: the C++ backend where the
# install step built it, else Numba.
python -c "import metricore._core" 2>/dev/null || export METRICORE_BACKEND=numba
# Every failure is wanted (no -x); the first run compiles the kernel variants (NVRTC).
step tests "${TESTS_LIMIT:-90}" python -m pytest -m cuda -q -p no:cacheprovider -rs \
  --durations=8 --junitxml="$OUT/tests.xml" tests/test_cuda_backend.py
step metrics "${METRICS_LIMIT:-180}" python -m pytest -m cuda -q -p no:cacheprovider -rs \
  --durations=8 --junitxml="$OUT/metrics.xml" tests/test_cuda_metrics.py
step sweep "${SWEEP_LIMIT:-110}" python benchmarks/sweep_gpu.py --json "$OUT/sweep.json"
step bench "${BENCH_LIMIT:-80}" python benchmarks/bench_gpu.py --json "$OUT/bench_gpu.json"
cat "$OUT/summary.txt"
