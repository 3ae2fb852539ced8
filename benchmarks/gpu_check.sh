#!/usr/bin/env bash
# The GPU checks, in one go, for a session that has a CUDA machine (issue #15):
#   1. the CUDA tests (pytest -m cuda: data, trainer, checkpoints, LR test, captures, plots,
#      and one gallery page with RPSBOOK_DEVICE=cuda),
#   2. the core benchmarks on cpu and cuda (python -m benchmarks --only core --device ...),
#   3. the full docs build with RPSBOOK_DEVICE=cuda (every gallery page on the GPU).
# Run from the repository root: RPSBOOK_DATA_DIR=/path/to/data bash benchmarks/gpu_check.sh
# Everything it produces goes to $OUT when set (else ./gpu-check-out): logs, results.*,
# nvidia-smi, and the built site's execution times. Each step runs even if an earlier one
# failed; the exit status is that of the first failure.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-check-out}"
mkdir -p "$OUT"
PYTHON="${PYTHON:-python}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" MPLBACKEND=Agg RPSBOOK_PROGRESS=0
export RPSBOOK_CACHE_DIR="${RPSBOOK_CACHE_DIR:-$OUT/cache}" RPSBOOK_OFFLINE=1
status=0
step() {  # step NAME COMMAND...: run, log to $OUT/NAME.log, remember the first failure
  local name=$1; shift
  echo "== $name: $*" | tee -a "$OUT/summary.txt"
  local start=$SECONDS
  "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  echo "   exit $rc after $((SECONDS - start)) s" | tee -a "$OUT/summary.txt"
  if [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; then status=$rc; fi
}
{ nvidia-smi || true; "$PYTHON" -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name())"; } >"$OUT/machine.txt" 2>&1
step cuda-tests "$PYTHON" -m pytest -q -m cuda -p no:cacheprovider tests/test_cuda.py
step bench "$PYTHON" -m benchmarks --only core --device cpu --device cuda --repeats 3 --out "$OUT/bench"
step docs-cuda env RPSBOOK_DEVICE=cuda "$PYTHON" -m sphinx -b html -W --keep-going -n -j auto docs "$OUT/html"
cp docs/sg_execution_times.rst "$OUT/sg_execution_times.rst" 2>/dev/null || true
rm -rf "$OUT/html" "$OUT/cache"  # large; the logs and times above say what happened
echo "first failure: ${status} (0: all passed)" | tee -a "$OUT/summary.txt"
exit "$status"
