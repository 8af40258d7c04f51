#!/usr/bin/env bash
# One call on the H200 machine: configure and build (-j16), run the GPU tests,
# the kernel benchmarks (attention, other ops, GEMM family), the PyTorch
# peers, and print a summary table. At most 8 files come back from the device
# tool, so $OUT ends with four: summary.md, test_cuda.log, bench_serve.json
# and raw.tar.gz holding the rest (build.log bench_attention.{txt,jsonl} bench_ops.{txt,jsonl}
# bench_gemm.{txt,jsonl} peers.jsonl e2e_{bf16,fp8}.txt hf_baseline.txt
# bench_serve_server.log); bench/save_results.sh reads both forms.
# Run from the repository root, after ./scripts/pack_device_deps.sh here and
# with carry: [".deps"]. Knobs (environment):
#   SKIP_TESTS=1 SKIP_GEMM=1 SKIP_PEERS=1 QUICK=1   skip stages / short benches
#   SKIP_KERNELS=1                                    no kernel benches or torch peers
#   SKIP_ATTENTION=1 GEMM_ARGS=--moe-only             no attention bench / only the MoE GEMM table
#   SKIP_E2E_FP8=1 SKIP_E2E_BF16=1                    the end-to-end run in one dtype only
#   SKIP_E2E=1 SKIP_HF=1                              no end-to-end runs / no transformers peer
#   SKIP_SERVE_BENCH=1                                no `sable bench serve` presets (bench_serve.json)
#   E2E_LAYERS=4 E2E_PREFILL=4096,32768               the slice and its prefill lengths
#   E2E_FP8_ARGS="--batches 1 --iters 20"            more bench_gpu_e2e arguments for the FP8 run
#   E2E_BF16_ARGS="--batches 1 --ab k=0,1"           more bench_gpu_e2e arguments for the BF16 run
#   ATTN_ARGS=--decode-small                        bench_cuda_attention arguments (one table only)
#   GTEST_FILTER=...                                  subset of test_cuda
#   PROFILE_DECODE=1                                  ncu: every kernel of one decode step at batch
#                                                     PROFILE_BATCH (1), PROFILE_DTYPES ("bf16 fp8"),
#                                                     PROFILE_LAYERS (2)
#   NCU_KERNEL=regex                                  ncu's detailed sections for the kernels of one
#                                                     bf16 decode step whose names match (NCU_FP8=1: FP8
#                                                     step; NCU_COUNT: launches profiled, default 6;
#                                                     NCU_GEMM="bench_cuda_gemm args": that bench instead)
#   STREAM_READ=1 [STREAM_READ_ARGS=...]              bench_cuda_stream_read: weight read patterns
#   ENGINE_AB=1                                       sable bench offline (single, concurrent32; dsv3-slice
#                                                     E2E_LAYERS, FP8, max-model-len the model's 163,840) with
#                                                     the knobs mla-graph-splits, pinned-staging and
#                                                     sampling-split on, then off
#                                                     (docs/performance.md, "What the engine adds to a decode step")
# Copy the results into the repo afterwards with bench/save_results.sh.
set -u
OUT=${OUT:-/tmp/sable-gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0
BUILD=build-gpu
t0=$(date +%s)
stamp() { echo "[gpu_run +$(( $(date +%s) - t0 ))s] $*"; }

{
  echo "# Sable GPU run"
  echo
  # The device copy of the tree has no .git: pass SABLE_COMMIT=<hash> in the command.
  echo "- commit: ${SABLE_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "- gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 | head -1)"
  echo "- command: bench/gpu_run.sh (SKIP_TESTS=${SKIP_TESTS:-} SKIP_GEMM=${SKIP_GEMM:-} SKIP_PEERS=${SKIP_PEERS:-} QUICK=${QUICK:-})"
  echo
} > "$OUT/summary.md"

targets=""
[ -z "${SKIP_TESTS:-}" ] && targets="test_cuda"
[ -z "${SKIP_KERNELS:-}" ] && [ -z "${SKIP_ATTENTION:-}" ] && targets="$targets bench_cuda_attention bench_cuda_ops"
[ -z "${SKIP_KERNELS:-}" ] && [ -z "${SKIP_GEMM:-}" ] && [ -f bench/cuda_gemm.cpp ] && targets="$targets bench_cuda_gemm"
{ [ -z "${SKIP_E2E:-}" ] || [ -n "${PROFILE_DECODE:-}" ] || [ -n "${NCU_KERNEL:-}" ]; } && targets="$targets bench_gpu_e2e"
[ -z "${SKIP_SERVE_BENCH:-}" ] && targets="$targets sable"
[ -n "${STREAM_READ:-}" ] && targets="$targets bench_cuda_stream_read"
[ -n "${ENGINE_AB:-}" ] && targets="$targets sable"
[ -n "${NCU_GEMM:-}" ] && targets="$targets bench_cuda_gemm"
stamp "configure + build: $targets"
if ! { cmake -S . -B $BUILD -G Ninja -DCMAKE_BUILD_TYPE=Release -DSABLE_DEPS_DIR=$PWD/.deps \
         > "$OUT/build.log" 2>&1 && cmake --build $BUILD -j16 --target $targets >> "$OUT/build.log" 2>&1; }; then
  stamp "BUILD FAILED"
  grep -E "error|Error|undefined" "$OUT/build.log" | head -40
  exit 1
fi
stamp "build ok"

if [ -z "${SKIP_TESTS:-}" ]; then
  # Three processes, so that an abort in one part (a CHECK in a kernel's
  # host code) does not hide the results of the others.
  rc=0
  : > "$OUT/test_cuda.log"
  if [ -n "${GTEST_FILTER:-}" ]; then filters="$GTEST_FILTER"
  else filters="-*CudaForwardFixture* *CudaForwardFixture*/tiny_dsv3_absorbed:*CudaForwardFixture*/tiny_dsv3_expanded *CudaForwardFixture*/tiny_dsv3_fp8_*"; fi
  for f in $filters; do
    echo "===== test_cuda --gtest_filter=$f" >> "$OUT/test_cuda.log"
    timeout 240 ./$BUILD/tests/test_cuda --gtest_color=no "--gtest_filter=$f" >> "$OUT/test_cuda.log" 2>&1
    r=$?; [ $r -ne 0 ] && rc=$r
    echo "===== rc=$r" >> "$OUT/test_cuda.log"
  done
  stamp "test_cuda rc=$rc"
  grep -E "^=====|^\[  FAILED|^\[  PASSED|Failure|Expected|Which is|seed [0-9]|error:|Error|failed:" "$OUT/test_cuda.log" | head -60
  {
    echo "## test_cuda (rc=$rc)"
    echo '```'
    grep -E "^=====|^\[  PASSED|^\[  FAILED|^\[ measured|tests ran|failed:" "$OUT/test_cuda.log" | head -150
    echo '```'
    echo
  } >> "$OUT/summary.md"
fi

if [ -z "${SKIP_KERNELS:-}" ]; then
if [ -z "${SKIP_ATTENTION:-}" ]; then
stamp "bench_cuda_attention"
timeout 240 ./$BUILD/bench/bench_cuda_attention --json "$OUT/bench_attention.jsonl" ${QUICK:+--quick} ${ATTN_ARGS:-} \
  > "$OUT/bench_attention.txt" 2>&1
stamp "bench_cuda_attention rc=$?"
cat "$OUT/bench_attention.txt"
if [ -z "${ATTN_ARGS:-}" ]; then
  timeout 120 ./$BUILD/bench/bench_cuda_ops --json "$OUT/bench_ops.jsonl" ${QUICK:+--quick} > "$OUT/bench_ops.txt" 2>&1
  stamp "bench_cuda_ops rc=$?"
  cat "$OUT/bench_ops.txt"
fi
fi

if [ -z "${SKIP_GEMM:-}" ] && [ -x ./$BUILD/bench/bench_cuda_gemm ]; then
  timeout 200 ./$BUILD/bench/bench_cuda_gemm --json "$OUT/bench_gemm.jsonl" ${QUICK:+--quick} ${GEMM_ARGS:-} \
    > "$OUT/bench_gemm.txt" 2>&1
  stamp "bench_cuda_gemm rc=$?"
  cat "$OUT/bench_gemm.txt"
fi

if [ -n "${STREAM_READ:-}" ]; then
  timeout 150 ./$BUILD/bench/bench_cuda_stream_read ${STREAM_READ_ARGS:-} > "$OUT/bench_stream_read.txt" 2>&1
  stamp "bench_cuda_stream_read rc=$?"
  cat "$OUT/bench_stream_read.txt"
  { echo "## Weight read patterns (bench_cuda_stream_read)"; echo '```'; cat "$OUT/bench_stream_read.txt"; echo '```';
    echo; } >> "$OUT/summary.md"
fi

if [ -z "${SKIP_PEERS:-}" ]; then
  timeout 200 python3 bench/peers/torch_kernel_peers.py > "$OUT/peers.jsonl" 2>&1
  stamp "torch_kernel_peers rc=$?"
fi

# The other ops' rows (bench_cuda_ops) join the attention's in one summary.
[ -f "$OUT/bench_attention.jsonl" ] && python3 bench/peers/attention_summary.py \
  <(cat "$OUT/bench_attention.jsonl" "$OUT/bench_ops.jsonl" 2>/dev/null) "$OUT/peers.jsonl" >> "$OUT/summary.md" 2>&1
[ -f "$OUT/bench_gemm.txt" ] && { echo "## bench_cuda_gemm"; echo '```'; cat "$OUT/bench_gemm.txt"; echo '```'; } >> "$OUT/summary.md"
fi

# End to end on a DeepSeek-V3 slice (real layer shapes, random weights from
# the config), bf16 then FP8, with Hugging Face transformers on the same
# config between them (it needs the GPU to itself: ~75 GB for 4 layers).
layers=${E2E_LAYERS:-4}
if [ -z "${SKIP_E2E:-}" ] && [ -z "${SKIP_E2E_BF16:-}" ]; then
  stamp "bench_gpu_e2e bf16 ($layers layers)"
  timeout 240 ./$BUILD/bench/bench_gpu_e2e --preset dsv3-slice --layers "$layers" \
    --prefill "${E2E_PREFILL:-4096,32768}" ${E2E_BF16_ARGS:-} > "$OUT/e2e_bf16.txt" 2>&1
  stamp "bench_gpu_e2e bf16 rc=$?"
  cat "$OUT/e2e_bf16.txt"
  { echo "## End to end, dsv3-slice $layers layers, BF16 (bench_gpu_e2e)"; echo; cat "$OUT/e2e_bf16.txt"; echo; } >> "$OUT/summary.md"
fi
if [ -z "${SKIP_HF:-}" ]; then
  stamp "transformers baseline ($layers layers)"
  timeout 170 python3 bench/peers/hf_transformers_baseline.py "$layers" > "$OUT/hf_baseline.txt" 2>&1
  stamp "transformers baseline rc=$?"
  cat "$OUT/hf_baseline.txt"
  { echo "## Hugging Face transformers, same config, BF16 (bench/peers/hf_transformers_baseline.py $layers)";
    echo '```'; cat "$OUT/hf_baseline.txt"; echo '```'; echo; } >> "$OUT/summary.md"
fi
if [ -z "${SKIP_E2E:-}" ] && [ -z "${SKIP_E2E_FP8:-}" ]; then
  stamp "bench_gpu_e2e fp8 ($layers layers)"
  timeout 240 ./$BUILD/bench/bench_gpu_e2e --preset dsv3-slice --layers "$layers" --fp8 \
    --prefill "${E2E_PREFILL_FP8:-4096}" ${E2E_FP8_ARGS:-} > "$OUT/e2e_fp8.txt" 2>&1
  stamp "bench_gpu_e2e fp8 rc=$?"
  cat "$OUT/e2e_fp8.txt"
  { echo "## End to end, dsv3-slice $layers layers, FP8 (bench_gpu_e2e --fp8)"; echo; cat "$OUT/e2e_fp8.txt"; echo; } >> "$OUT/summary.md"
fi
# One decode step kernel by kernel (Nsight Compute, node by node inside the
# CUDA graph): where the time between a step and its floor goes.
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
if [ -n "${PROFILE_DECODE:-}" ]; then
  for dt in ${PROFILE_DTYPES:-bf16 fp8}; do
    stamp "ncu decode step ($dt, batch ${PROFILE_BATCH:-1}, ${PROFILE_LAYERS:-2} layers) with $NCU"
    # --cache-control none: L2 keeps what the previous kernel wrote, as in the
    # graph (flushing it made every small kernel pay DRAM and TLB misses).
    timeout 200 "$NCU" --profile-from-start off --clock-control none --cache-control none --print-units base --csv --page raw \
        --metrics gpu__time_duration.sum,dram__bytes_read.sum \
        ./$BUILD/bench/bench_gpu_e2e --preset dsv3-slice --layers "${PROFILE_LAYERS:-2}" $([ $dt = fp8 ] && echo --fp8) \
        --batches "${PROFILE_BATCH:-1}" --prefill 0 --iters 3 --profile > "$OUT/ncu_$dt.csv" 2> "$OUT/ncu_$dt.err"
    stamp "ncu rc=$?"
    python3 bench/ncu_step_summary.py "$OUT/ncu_$dt.csv" --bandwidth-gbs 4200 > "$OUT/ncu_$dt.md" 2>&1 || tail -5 "$OUT/ncu_$dt.err"
    { echo "## One decode step, $dt, batch ${PROFILE_BATCH:-1}, dsv3-slice ${PROFILE_LAYERS:-2} layers (ncu, bench/ncu_step_summary.py)";
      echo; cat "$OUT/ncu_$dt.md"; echo; } >> "$OUT/summary.md"
    sed -n '/^| kernel | calls/,$p' "$OUT/ncu_$dt.md" | head -40
  done
fi
if [ -n "${NCU_KERNEL:-}" ]; then
  stamp "ncu details of kernels matching $NCU_KERNEL"
  if [ -n "${NCU_GEMM:-}" ]; then  # a kernel of the GEMM bench, e.g. NCU_GEMM="--moe-only --tokens 4096 --dtype fp8"
    what="bench_cuda_gemm $NCU_GEMM"
    set -- --profile-from-start on ./$BUILD/bench/bench_cuda_gemm $NCU_GEMM
  else
    what="$([ -n "${NCU_FP8:-}" ] && echo FP8 || echo bf16) decode step"
    set -- --profile-from-start off ./$BUILD/bench/bench_gpu_e2e --preset dsv3-slice --layers "${PROFILE_LAYERS:-2}" \
      --batches "${PROFILE_BATCH:-1}" --prefill 0 ${NCU_FP8:+--fp8} --iters 3 --profile
  fi
  timeout 200 "$NCU" --clock-control none --kernel-name "regex:$NCU_KERNEL" \
      --launch-count "${NCU_COUNT:-6}" --section SpeedOfLight --section LaunchStats --section Occupancy \
      --section WarpStateStats --section MemoryWorkloadAnalysis --section SchedulerStats \
      --section ComputeWorkloadAnalysis "$@" > "$OUT/ncu_kernel.txt" 2>&1
  stamp "ncu rc=$?"
  { echo "## ncu sections of kernels matching $NCU_KERNEL ($what)"; echo '```';
    sed -n '/==PROF==\|Section\|----\|  [A-Z]/p' "$OUT/ncu_kernel.txt" | grep -v "^#\|^|" | head -400; echo '```'; } >> "$OUT/summary.md"
fi
# The published scenarios through the HTTP server (docs/performance.md).
if [ -z "${SKIP_SERVE_BENCH:-}" ]; then
  layers=${E2E_LAYERS:-4}; M=/tmp/dsv3-slice-$layers; port=8011
  ./$BUILD/sable bench model-dir --preset dsv3-slice --layers "$layers" --out "$M"
  # Device-to-device copy bandwidth (read + write) for the decode floor.
  BW=$(python3 bench/peers/copy_bandwidth.py 2>/dev/null || echo 4000)
  ./$BUILD/sable serve --model "$M" --load-format dummy --device cuda --quantization fp8 \
      --max-model-len 110000 --port $port --disable-log-stats > "$OUT/bench_serve_server.log" 2>&1 &
  spid=$!
  stamp "sable bench serve presets (dsv3-slice $layers layers, FP8, copy bandwidth $BW GB/s)"
  timeout 420 ./$BUILD/sable bench serve --port $port --preset single,concurrent32,long100k \
      --model-config "$M" --fp8 --bandwidth-gbs "$BW" --peak-tflops 1979 --ready-check-timeout-sec 300 \
      --disable-tqdm --result-json "$OUT/bench_serve.json" > /tmp/bench_serve.txt 2>&1
  stamp "sable bench serve rc=$?"
  kill $spid; wait $spid
  tail -20 "$OUT/bench_serve_server.log" | grep -iE "error|fail" || true
  cat /tmp/bench_serve.txt
  { echo "## sable bench serve presets: dsv3-slice $layers layers, FP8, one H200 (floor: $BW GB/s copy, 1979 TFLOP/s FP8 peak)"
    echo '```'; grep -v "^\(single\|concurrent32\|long100k\) \[" /tmp/bench_serve.txt; echo '```'; echo; } >> "$OUT/summary.md"
fi
# The engine's step against its graph: the two opt-in knobs of ef95402, on then off.
if [ -n "${ENGINE_AB:-}" ]; then
  layers=${E2E_LAYERS:-4}
  for v in 1 0; do
    stamp "sable bench offline, SABLE_MLA_GRAPH_SPLITS=$v SABLE_PINNED_STAGING=$v SABLE_SAMPLING_SPLIT=$v"
    SABLE_MLA_GRAPH_SPLITS=$v SABLE_PINNED_STAGING=$v SABLE_SAMPLING_SPLIT=$v timeout 300 ./$BUILD/sable bench offline \
        --model-preset dsv3-slice --layers "$layers" --quantization fp8 --device cuda --preset single,concurrent32 \
        --disable-tqdm > "$OUT/engine_ab_$v.txt" 2>&1
    stamp "sable bench offline rc=$?"
    { echo "## sable bench offline: dsv3-slice $layers layers, FP8; mla-graph-splits = pinned-staging = sampling-split = $v"
      echo '```'; grep -E "Result|Output token throughput|TPOT|ITL|rror" "$OUT/engine_ab_$v.txt"; echo '```'; echo; } \
        >> "$OUT/summary.md"
  done
fi

echo
cat "$OUT/summary.md"
# Everything but the summary, the test log and the serve results goes into one archive.
( cd "$OUT" && raw=$(ls | grep -vxE 'summary.md|test_cuda.log|bench_serve.json|raw.tar.gz') &&
  [ -n "$raw" ] && tar -czf raw.tar.gz $raw && rm -f $raw )
stamp "done"
