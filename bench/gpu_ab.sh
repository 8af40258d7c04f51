#!/usr/bin/env bash
# A/B of an environment knob on the H200 machine, in one device call: build,
# optionally run a subset of test_cuda, then run each benchmark once per value
# of the knob, values alternated over ROUNDS rounds (each process is fresh, so
# knobs read once at startup take effect). Prints every table and writes them
# under $OUT (ab_summary.md); bench/save_results.sh does not read this form:
# copy ab_summary.md into bench/results/ with a header.
# Run from the repository root with carry: [".deps"]. Environment:
#   AB_VAR=SABLE_STREAM_TILES AB_VALUES="1 0"   the knob and its values; AB_VAR=env: each value is
#                                               NAME=V[:NAME2=V2...] (or "base": nothing set);
#                                               AB_VAR=cmake: each value is a CMake NAME=V, one build
#                                               per value (tests run in the first one's);
#                                               AB_VAR=patch: each value is PATCH[:PATCH2...] (paths from
#                                               the repository root, e.g. bench/results/x.patch) or "base":
#                                               built in turn in one build directory with its patches
#                                               applied (then reverted), binaries kept per value, and
#                                               test_cuda run for every value (a patch is a change to
#                                               check, not only to time)
#   ROUNDS=1                                    alternations of the values
#   GTEST_FILTER='*Gemm*'                       test_cuda subset first (empty: none)
#   GEMM_ARGS="--dense-only --dtype fp8 --tokens 1"   bench_cuda_gemm per value (empty: none)
#   E2E_ARGS="--layers 4 --fp8 --prefill 0 --batches 1,8"  bench_gpu_e2e per value (empty: none)
#   SABLE_COMMIT=<hash>                          the device copy has no .git
#   TEST_TIMEOUT=300 BENCH_TIMEOUT=200           seconds for test_cuda and for each benchmark run
set -u
OUT=${OUT:-/tmp/sable-gpu-out}
mkdir -p "$OUT"
BUILD=${BUILD:-build-gpu}
t0=$(date +%s)
stamp() { echo "[gpu_ab +$(( $(date +%s) - t0 ))s] $*"; }
S="$OUT/ab_summary.md"
{
  echo "# A/B of ${AB_VAR:?set AB_VAR} over ${AB_VALUES:?set AB_VALUES}"
  echo
  echo "- commit: ${SABLE_COMMIT:-unknown}"
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "- gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 | head -1)"
  echo "- command: AB_VAR=$AB_VAR AB_VALUES=\"$AB_VALUES\" ROUNDS=${ROUNDS:-1} GTEST_FILTER=\"${GTEST_FILTER:-}\"" \
       "GEMM_ARGS=\"${GEMM_ARGS:-}\" E2E_ARGS=\"${E2E_ARGS:-}\" bash bench/gpu_ab.sh"
  echo
} > "$S"

targets=""
[ -n "${GTEST_FILTER:-}" ] && targets="test_cuda"
[ -n "${GEMM_ARGS:-}" ] && targets="$targets bench_cuda_gemm"
[ -n "${E2E_ARGS:-}" ] && targets="$targets bench_gpu_e2e"
# The build directory of a value (AB_VAR=cmake: one per value).
tag_of() { echo "$1" | tr -c 'A-Za-z0-9_\n' '_'; }
# A build directory as a command prefix (relative: ./DIR).
dir_() { case "$1" in /*) echo "$1" ;; *) echo "./$1" ;; esac; }
BASE_BUILD=$BUILD
build_of() {
  case "$AB_VAR" in
    cmake) echo "$BASE_BUILD-$(tag_of "$1")" ;;
    patch) echo "$BASE_BUILD-bin/$(tag_of "$1")" ;;
    *) echo "$BASE_BUILD" ;;
  esac
}
# AB_VAR=patch: apply / revert a value's patches (git apply works without a
# repository, as on the device copy; patch(1) if git is missing).
patches_of() { [ "$1" = base ] || echo "$1" | tr ':' ' '; }
apply_patches() {
  local p
  for p in $(patches_of "$1"); do
    if ! { git apply "$p" 2>> "$OUT/build.log" || patch -s -p1 < "$p" >> "$OUT/build.log" 2>&1; }; then
      stamp "PATCH FAILED: $p"
      exit 1
    fi
  done
}
revert_patches() {
  local p
  for p in $(patches_of "$1" | tr ' ' '\n' | tac); do
    git apply -R "$p" 2>> "$OUT/build.log" || patch -s -R -p1 < "$p" >> "$OUT/build.log" 2>&1
  done
}
build_one() {  # build_one DIR "-DNAME=V" TARGETS
  local targets=$3
  stamp "build $1: $targets $2"
  if ! { cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSABLE_DEPS_DIR=$PWD/.deps $2 >> "$OUT/build.log" 2>&1 &&
         cmake --build "$1" -j16 --target $targets >> "$OUT/build.log" 2>&1; }; then
    stamp "BUILD FAILED"
    grep -E "error|Error|undefined" "$OUT/build.log" | head -40
    exit 1
  fi
}
if [ "$AB_VAR" = patch ]; then
  for v in $AB_VALUES; do
    apply_patches "$v"
    build_one "$BASE_BUILD" "" "$targets"
    B=$(build_of "$v")
    mkdir -p "$B/tests" "$B/bench"
    for t in $targets; do
      for d in tests bench; do [ -x "$BASE_BUILD/$d/$t" ] && cp "$BASE_BUILD/$d/$t" "$B/$d/"; done
    done
    revert_patches "$v"
  done
elif [ "$AB_VAR" = cmake ]; then
  first=1
  for v in $AB_VALUES; do  # test_cuda in the first value's build only
    if [ $first = 1 ]; then build_one "$(build_of "$v")" "-D$v" "$targets"; BUILD=$(build_of "$v"); first=0
    else build_one "$(build_of "$v")" "-D$v" "${targets/test_cuda/}"; fi
  done
else
  build_one $BUILD "" "$targets"
fi
stamp "build ok"

if [ -n "${GTEST_FILTER:-}" ]; then
  # test_cuda in the first build (AB_VAR=patch: in every value's).
  test_builds=$BUILD
  [ "$AB_VAR" = patch ] && test_builds=$(for v in $AB_VALUES; do build_of "$v"; done)
  for TB in $test_builds; do
    log="$OUT/test_cuda$( [ "$AB_VAR" = patch ] && echo "_$(basename "$TB")").log"
    timeout "${TEST_TIMEOUT:-300}" stdbuf -oL $(dir_ "$TB")/tests/test_cuda --gtest_color=no "--gtest_filter=$GTEST_FILTER" > "$log" 2>&1
    rc=$?
    stamp "test_cuda ($TB) rc=$rc"
    { echo "## test_cuda ($TB) --gtest_filter=$GTEST_FILTER (rc=$rc)"; echo '```';
      grep -E "^\[  FAILED|^\[  PASSED|^\[       OK|Failure|Expected|Which is|seed [0-9]" "$log" | head -80
      echo '```'; echo; } >> "$S"
  done
fi

# The environment of one value, as arguments of env(1).
envs_of() {
  if [ "$AB_VAR" = cmake ]; then :
  elif [ "$AB_VAR" != env ]; then echo "$AB_VAR=$1"
  elif [ "$1" != base ]; then echo "$1" | tr ':' ' '; fi
}
for r in $(seq 1 "${ROUNDS:-1}"); do
  for v in $AB_VALUES; do
    tag=$(tag_of "$v")
    B=$(build_of "$v")
    if [ -n "${GEMM_ARGS:-}" ]; then
      env $(envs_of "$v") timeout "${BENCH_TIMEOUT:-200}" $(dir_ "$B")/bench/bench_cuda_gemm $GEMM_ARGS > "$OUT/gemm_${tag}_$r.txt" 2>&1
      stamp "bench_cuda_gemm $AB_VAR=$v round $r rc=$?"
      { echo "## bench_cuda_gemm $GEMM_ARGS, $AB_VAR=$v, round $r"; echo '```'; cat "$OUT/gemm_${tag}_$r.txt"; echo '```';
        echo; } >> "$S"
    fi
    if [ -n "${E2E_ARGS:-}" ]; then
      env $(envs_of "$v") timeout "${BENCH_TIMEOUT:-200}" $(dir_ "$B")/bench/bench_gpu_e2e --preset dsv3-slice $E2E_ARGS > "$OUT/e2e_${tag}_$r.txt" 2>&1
      stamp "bench_gpu_e2e $AB_VAR=$v round $r rc=$?"
      { echo "## bench_gpu_e2e $E2E_ARGS, $AB_VAR=$v, round $r"; echo;
        grep -E "^\||^#|copy bandwidth" "$OUT/e2e_${tag}_$r.txt"; echo; } >> "$S"
    fi
  done
done
cat "$S"
stamp done
