#!/usr/bin/env bash
# One lent GPU session's checks, in priority order, within one time budget (the device tool's
# lease is short): build against the machine's own torch, the CUDA tests, the CUDA benchmark.
# Logs and tables go to $OUT (the device tool brings that folder back).
#
#   OUT=/tmp/gpu BUDGET_S=420 DATA_DIR=.gpudata bash benchmarks/gpu_session.sh
#
# If BASE names folders (space-separated) with other source trees of this package (say, main
# before a kernel change, or a variant), they are built too and benchmarked side by side: an A/B
# on the same card in one run; ROUNDS=n repeats the benchmarks that many times (trees in turn, so
# clock drift does not favour one), BENCH_ARGS narrows the bench_prox grid (say "--ds 1e5").
# PATH_BENCH=0 skips the path benchmark, SELECT=0 the select run, NCU=0 the profile (for a lease too
# short for everything).
set -u
OUT=${OUT:-/tmp/gpu}
BUDGET_S=${BUDGET_S:-420}
BASE=${BASE:-}
mkdir -p "$OUT"
exec > >(tee "$OUT/session.log") 2>&1  # at most 8 files come back: keep the step outputs in one
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
export FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} MAX_JOBS=${MAX_JOBS:-16}
export CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$(command -v nvcc)")")}
# The device tool's image sets CC/CXX to a wrapper (/opt/gcc) that links libstdc++ statically into
# the extension: with two libstdc++ copies in one process, formatting an error message that holds
# a shape (IntArrayRef into a stream) segfaults. Build with the system compiler, as torch was.
if [ -x /usr/bin/g++ ]; then export CC=/usr/bin/gcc CXX=/usr/bin/g++; fi
root=$PWD
step() { echo; echo "=== [${SECONDS}s] $*"; }
# timeout for a step: its own limit, or what is left of the budget, whichever is less
limit() { local left=$((BUDGET_S - SECONDS - 5)); echo $(( $1 < left ? $1 : (left > 1 ? left : 1) )); }

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
python3 -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "CUDA", torch.version.cuda, torch.cuda.get_device_name())'
echo "CC=${CC:-} CXX=${CXX:-}"
nvcc --version | tail -1

step "build (this tree${BASE:+ and $BASE}, in parallel)"
(timeout "$(limit 300)" python3 setup.py build_ext --inplace > "$OUT/build.log" 2>&1; echo "rc=$?" >> "$OUT/build.log") &
builds=$!
for base in $BASE; do  # their logs stay here: at most 8 files come back
  (cd "$base" && timeout "$(limit 300)" python3 setup.py build_ext --inplace > "/tmp/build_$(basename "$base").log" 2>&1; echo "rc=$?" >> "/tmp/build_$(basename "$base").log") &
  builds="$builds $!"
done
wait $builds  # by pid: a bare wait would also wait for the tee above
for f in "$OUT"/build.log /tmp/build_*.log; do [ -f "$f" ] && echo "$f: $(tail -n 1 "$f")"; done
# registers, stack (spills) and shared memory of the float/double kernels
cuobjdump --dump-resource-usage lassonet_ext/_C*.so 2>&1 | grep -A1 -E "(tile|column)_kernelI(ff|dd)" \
  | grep -oE "(tile|column)_kernelI(ff|dd)(Lb[01]E)?|REG:[0-9]+ STACK:[0-9]+ SHARED:[0-9]+" | paste - -

step "CUDA tests (every test id with cuda in it)"
PYTHONPATH=$root timeout "$(limit 200)" python3 -m pytest -q -p no:cacheprovider -k cuda \
  tests/test_prox_cuda.py tests/test_prox_correctness.py tests/test_prox_api.py tests/test_prox_groups.py \
  tests/test_estimators.py tests/test_gradients_by_hand.py > "$OUT/pytest_cuda.log" 2>&1
echo "pytest rc=$?"; tail -n 15 "$OUT/pytest_cuda.log"

if [ "${SELECT:-1}" = 1 ]; then
  step "the main job on the GPU: lassonet-ext select --device cuda (bundled Mice Protein data)"
  PYTHONPATH=$root timeout "$(limit 90)" python3 -m lassonet_ext select --device cuda --quiet --out /tmp/select_cuda \
    > /tmp/select_cuda.log 2>&1
  echo "rc=$?"; grep -iE "device|best|wall|took|seconds| s$" /tmp/select_cuda.log | head -n 8; tail -n 4 /tmp/select_cuda.log
fi

[ "${PATH_BENCH:-1}" = 1 ] && step "our path on the GPU and on this machine's CPU cores (bench_path.py: Mice Protein, MNIST)"
# mnist.npz comes from DATA_DIR (the ../shared beside a checkout does not travel to a lent machine)
[ "${PATH_BENCH:-1}" = 1 ] && for dev in cuda cpu; do
  PYTHONPATH=$root timeout "$(limit 100)" python3 benchmarks/bench_path.py --device $dev --threads "$(nproc)" \
    --data "${DATA_DIR:-$root/../shared/data}" --markdown "/tmp/path_$dev.md" > "/tmp/path_$dev.log" 2>&1
  echo "$dev rc=$?"; cat "/tmp/path_$dev.md" 2>/dev/null || tail -n 5 "/tmp/path_$dev.log"
done

# bench TREE NAME FILE: the grid (BENCH_ARGS) with TREE's build, table appended to $OUT/FILE.md
bench() {
  step "benchmark: $2 (${1#$root/})"
  PYTHONPATH=$1 timeout "$(limit 120)" python3 benchmarks/bench_prox.py --device cuda --budget 0.1 \
    ${BENCH_ARGS:-} --markdown "/tmp/$2.md" > "/tmp/$2.log" 2>&1
  echo "rc=$?"; { echo; echo "### ${1#$root/}"; cat "/tmp/$2.md" 2>/dev/null || tail -n 5 "/tmp/$2.log"; } | tee -a "$OUT/$3.md"
}
trees="$root"; for base in $BASE; do trees="$trees $root/$base"; done
for round in $(seq "${ROUNDS:-1}"); do
  # odd rounds run the trees in the given order, even rounds in reverse
  order=$trees; [ $((round % 2)) = 0 ] && order=$(echo $trees | tr ' ' '\n' | tac | tr '\n' ' ')
  for tree in $order; do
    if [ "$tree" = "$root" ]; then bench "$root" this bench_cuda; else
      bench "$tree" "base_$(basename "$tree")" bench_cuda_base; fi
  done
  step "benchmark: d = 1e6 (W well beyond the L2), round $round"
  for tree in $order; do
    echo "--- $tree"
    PYTHONPATH=$tree timeout "$(limit 60)" python3 benchmarks/bench_prox.py --device cuda --budget 0.1 \
      --ds 1e6 --Ks 16,64,256 2>&1 | grep -E "^float"
  done
done

step "racecheck and memcheck of the tile and column kernels (small shapes)"
cat > /tmp/sanitize.py <<'PY'
import torch, lassonet_ext
# a thread per feature (K <= 64), a warp per feature on wide and narrow tile rows, the column kernel
for dtype in (torch.float32, torch.float64):
    for K, d in ((16, 100), (72, 100), (300, 50), (1024, 40), (8000, 5)):
        th, W = torch.randn(2, d, dtype=dtype, device="cuda"), torch.randn(K, d, dtype=dtype, device="cuda")
        torch.ops.lassonet.hier_prox(th, W, 0.1, 1.0, 0.01)
torch.cuda.synchronize()
print("sanitized shapes ran")
PY
for tool in racecheck memcheck; do
  echo "--- $tool" >> "$OUT/sanitize.log"
  PYTHONPATH=$root timeout "$(limit 40)" compute-sanitizer --tool $tool python3 /tmp/sanitize.py \
    >> "$OUT/sanitize.log" 2>&1
  echo "$tool rc=$?"; tail -n 3 "$OUT/sanitize.log"
done

if [ "${NCU:-1}" = 1 ] && command -v ncu > /dev/null; then
  step "ncu: one tile-kernel launch, d = 1e6, K = 256, float32 (where the time goes)"
  cat > /tmp/profile.py <<'PY'
import torch, lassonet_ext
th, W = torch.randn(1, 10**6, device="cuda"), 0.3 * torch.randn(256, 10**6, device="cuda")
torch.ops.lassonet.hier_prox(th, W, 0.1, 1.0, 0.0)
torch.cuda.synchronize()
PY
  PYTHONPATH=$root timeout "$(limit 60)" ncu --kernel-name regex:tile_kernel --launch-count 1 \
    --section SpeedOfLight --section WarpStateStats --section Occupancy --section SchedulerStats \
    python3 /tmp/profile.py 2>&1 | grep -vE "^==PROF==|^\s*$" | tail -n 70
fi
step "done"
