#!/bin/bash
# One device call for the GEMM family: build, parity tests, kernel bench, the
# torch peers, and the side-by-side table. Run from the repo root on the GPU
# machine with OUT set (the device tool's output folder).
set -u
OUT=${OUT:-/tmp/gemm-out}
mkdir -p "$OUT"
# Only the GEMM family's tests are built here: the other CUDA tests belong to
# another engineer's work in progress (moved aside in this copy of the tree only).
mkdir -p /tmp/aside
for f in tests/cuda/*_test.cpp; do
  case "$f" in *gemm*|*moe_experts*) ;; *) mv "$f" /tmp/aside/ ;; esac
done
t0=$(date +%s)
# sable_lib and sable_cuda reference each other (static libraries linked in
# one order): repeat them as a group at the end of every link line.
B=$PWD/build-dev
CL=/usr/local/cuda/targets/x86_64-linux/lib
EXTRA="-Wl,--start-group $B/src/libsable_lib.a $B/src/libsable_cuda.a $PWD/.deps/lib/libpcre2-8.a -Wl,--end-group -L$CL -lcudart_static -lcublasLt -lcublas -lrt -lpthread -ldl"
cmake -S . -B build-dev -G Ninja -DCMAKE_BUILD_TYPE=Release -DSABLE_DEPS_DIR=$PWD/.deps -DCMAKE_CXX_STANDARD_LIBRARIES= \
  "-DCMAKE_CXX_LINK_EXECUTABLE=<CMAKE_CXX_COMPILER> <FLAGS> <CMAKE_CXX_LINK_FLAGS> <LINK_FLAGS> <OBJECTS> -o <TARGET> <LINK_LIBRARIES> $EXTRA" \
  > "$OUT/build.log" 2>&1 \
  && cmake --build build-dev -j16 --target test_cuda bench_cuda_gemm >> "$OUT/build.log" 2>&1
rc=$?
echo "build rc=$rc in $(( $(date +%s) - t0 ))s"
if [ $rc -ne 0 ]; then grep -E "error|Error" "$OUT/build.log" | head -30; exit 1; fi
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv >> "$OUT/build.log" 2>&1
SABLE_GEMM_VERBOSE=1 timeout 200 ./build-dev/tests/test_cuda > "$OUT/test.log" 2>&1
trc=$?
timeout 200 ./build-dev/bench/bench_cuda_gemm --json "$OUT/sable.jsonl" ${BENCH_ARGS:-} > "$OUT/bench.txt" 2>&1
echo "bench rc=$?"
if [ -z "${SKIP_PEERS:-}" ]; then
  timeout 150 python3 bench/peers/torch_kernel_peers.py > "$OUT/peers.jsonl" 2>> "$OUT/build.log"
  python3 bench/peers/compare.py "$OUT/sable.jsonl" "$OUT/peers.jsonl" > "$OUT/compare.txt" 2>&1
fi
head -4 "$OUT/bench.txt"
grep -E "^(linear|  \(other\)|  \(ring\)) +fp8 .* (1|4|8) +[0-9]|^moe|^  \(ring\) .*E256" "$OUT/bench.txt"
cat "$OUT/compare.txt" 2>/dev/null | head -20
echo "test rc=$trc"
grep -E "^\[  FAILED|^\[  PASSED|Failure|Expected|Which is|seed|rel err|probe" "$OUT/test.log" | head -60
