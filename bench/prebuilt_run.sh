#!/bin/bash
# A device run without a device build: binaries built here (Release, sm_90a,
# -DSABLE_STATIC_RUNTIME=ON), stripped and compressed into gpu-bin/ (add it to
# .git/info/exclude), carried with the tree. To prepare:
# scripts/pack_gpu_bin.sh [BUILD_DIR], which also writes gpu-bin/COMMIT, printed
# below: the commit the binaries were built from, which a record must name (.gz
# files are unpacked too).
# then on the device (carry .deps and gpu-bin): bash bench/prebuilt_run.sh "SECTIONS"
# Sections, in the order given: samp_t (sampling and allocator tests, both
# samplers), sampb (bench_cuda_ops --sampling), zf (bench_gpu_e2e FP8
# --ab alloc-zero-fill=1,0), fwd0z / fwd1 (forward, graph, engine tests with
# every opt-in knob on, zero fill off / on), all (all of test_cuda, the
# defaults), allz (all of test_cuda, knobs on, zero fill off), eng (sable
# bench offline with the knobs on, then off), e2e (bench_gpu_e2e bf16 then FP8, or $E2E_DTYPES; prefill $E2E_PREFILL or
# 4096), serve (sable serve, dummy FP8 weights, and sable bench serve's
# presets $SERVE_PRESETS or single,concurrent32 against it), gmem (bench_gpu_e2e
# --graph-memory $GMEM: CUDA graph memory measured against the plan), fp8ws
# (MLA tests, bench_cuda_attention --decode-small, then bench_gpu_e2e with an
# FP8 cache, --ab mla-fp8-ws=0,1), small8 (MLA tests, then
# bench_cuda_attention --decode-small),
# comb (the combine tests, then bench_cuda_attention --combine: the combine's
# thread groups x blocks a row at few-row shapes, then its defaults), combe2e (the 4-layer FP8 slice's decode
# at batch 1 and 8, --ab mla-combine-groups=1,0), splits16 (bench_cuda_attention
# --small-splits: the 16-head kernel's split counts, forced), ruleab (the MLA
# tests, then bench_cuda_attention --small-rule alternated $RA_ROUNDS times
# (default "1 2") over b/bench_cuda_attention_base, if there is one, and this
# tree's binary with each of $RA_KNOBS (NAME=V, default none), one column
# each; a base binary comes from bench/build_ab_base.sh), load (the weight
# uploader, forward and engine tests with SABLE_PINNED_WEIGHTS=1, then the
# 4-layer slice built with it at 0 and 1 in BF16 and at 1 in FP8, or
# $LOAD_RUNS as dtype:value pairs: "built in" and its parts), dummy (the
# host's THP mode, then bench_dummy_weights bf16 and FP8, $DUMMY_EXPERTS or 64
# experts: the generator against the floor of writing its bytes), ckpt (a
# real FP8 checkpoint of the slice, $CKPT_LAYERS or 2 layers, written by make-model
# to /tmp once, then `sable serve` loading it with SABLE_PINNED_WEIGHTS at each
# of $CKPT_RUNS or "0 1": the load's "loaded ... s" line; the page cache is
# dropped first where the machine allows it).
# Results under $OUT; copy what matters into bench/results/.
set -u
O=${OUT:-/tmp/out}; mkdir -p b "$O"
# xz, or Python's lzma where the image has no xz.
unxz_to() { if command -v xz > /dev/null; then xz -dc "$1" > "$2"; else
  python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi; }
for f in gpu-bin/*.gz gpu-bin/*.xz; do [ -e "$f" ] || continue; n=$(basename "${f%.*}")
  [ -x b/$n ] && continue
  case $f in *.gz) gunzip -c "$f" > b/$n;; *.xz) unxz_to "$f" b/$n;; esac; chmod +x b/$n; done
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader
echo "binaries built from $(cat gpu-bin/COMMIT 2> /dev/null || echo 'an unrecorded commit (no gpu-bin/COMMIT)'); tree at $(git rev-parse --short HEAD 2> /dev/null || echo '?')"
t0=$(date +%s); st() { echo "[+$(( $(date +%s) - t0 ))s] $*"; }
for sec in $1; do case $sec in
samp_t) timeout 120 b/test_cuda --gtest_color=no --gtest_filter='*CudaSampling*:CudaPinnedStaging.*:CudaAllocator.*:CudaBackend.*' > $O/t_samp.log 2>&1; st "samp tests rc=$?"
  grep -E "^\[  PASSED|FAILED|Failure|Expected|Which|seed" $O/t_samp.log | head -20;;
fwd1) SABLE_MLA_GRAPH_SPLITS=1 SABLE_PINNED_STAGING=1 timeout 200 b/test_cuda --gtest_color=no --gtest_filter='*CudaForwardFixture*/tiny_dsv3_fp8_*:*Graph*:*Engine*:*Runner*' > $O/t_fwd1.log 2>&1; st "fwd knobs=1 rc=$?"
  grep -E "^\[  PASSED|FAILED|Failure" $O/t_fwd1.log | head -20;;
fwd0z) SABLE_ALLOC_ZERO_FILL=0 SABLE_MLA_GRAPH_SPLITS=1 SABLE_PINNED_STAGING=1 SABLE_SAMPLING_SPLIT=1 timeout 200 b/test_cuda --gtest_color=no --gtest_filter='*CudaForwardFixture*/tiny_dsv3_fp8_*:*Graph*:*Engine*:*Runner*' > $O/t_fwd0z.log 2>&1; st "fwd zero-fill=0 rc=$?"
  grep -E "^\[  PASSED|FAILED|Failure" $O/t_fwd0z.log | head -20;;
all) timeout 300 b/test_cuda --gtest_color=no > $O/t_all.log 2>&1; st "all tests, defaults rc=$?"
  grep -E "^\[  PASSED|FAILED|Failure" $O/t_all.log | head -20;;
allz) SABLE_ALLOC_ZERO_FILL=0 SABLE_MLA_GRAPH_SPLITS=1 SABLE_PINNED_STAGING=1 SABLE_SAMPLING_SPLIT=1 timeout 300 b/test_cuda --gtest_color=no > $O/t_all0z.log 2>&1; st "all tests zero-fill=0 rc=$?"
  grep -E "^\[  PASSED|FAILED|Failure" $O/t_all0z.log | head -20;;
sampb) timeout 90 b/bench_cuda_ops --sampling > $O/samp.txt 2>&1; st "samp bench rc=$?"; grep -E "copy|sample" $O/samp.txt | head -24;;
zf) timeout 240 b/bench_gpu_e2e --preset dsv3-slice --layers 4 --fp8 --prefill ${ZF_PREFILL:-0} --batches 1,32 --ab alloc-zero-fill=1,0 > $O/zf.txt 2>&1; st "e2e zero-fill A/B rc=$?"
  grep -vE "^\s*$" $O/zf.txt | grep -E "\||captured|copy|rror" | head -30;;
eng) for v in 1 0; do SABLE_MLA_GRAPH_SPLITS=$v SABLE_PINNED_STAGING=$v SABLE_SAMPLING_SPLIT=$v SABLE_ALLOC_ZERO_FILL=${ENG_ZF:-1} timeout 200 b/sable bench offline --model-preset dsv3-slice --layers 4 --quantization fp8 --device cuda --preset single,concurrent32 --disable-tqdm > $O/eng_$v.txt 2>&1; st "engine knobs=$v rc=$?"; grep -E "captured|Result|TPOT|ITL|rror" $O/eng_$v.txt | head -16; done;;
e2e) for dt in ${E2E_DTYPES:-bf16 fp8}; do f=; [ $dt = fp8 ] && f=--fp8
  timeout 270 b/bench_gpu_e2e --preset dsv3-slice --layers 4 $f --prefill ${E2E_PREFILL:-4096} > $O/e2e_$dt.txt 2>&1; st "e2e $dt rc=$?"
  grep -vE "^\s*$" $O/e2e_$dt.txt | grep -E "\||captured|copy|rror" | head -30; done;;
serve) M=/tmp/dsv3-slice-4; b/sable bench model-dir --preset dsv3-slice --layers 4 --out $M > /dev/null
  BW=$(python3 bench/peers/copy_bandwidth.py 2>/dev/null || echo 3000)
  b/sable serve --model $M --load-format dummy --device cuda --quantization fp8 --max-model-len 110000 --port 8011 \
    --disable-log-stats > $O/serve_server.log 2>&1 & spid=$!
  timeout 400 b/sable bench serve --port 8011 --preset ${SERVE_PRESETS:-single,concurrent32} --model-config $M --fp8 \
    --bandwidth-gbs $BW --peak-tflops 1979 --ready-check-timeout-sec 240 --disable-tqdm --result-json $O/bench_serve.json \
    > $O/bench_serve.txt 2>&1; st "bench serve (copy $BW GB/s) rc=$?"; kill $spid; wait $spid
  grep -E "captured|rror" $O/serve_server.log | head -5; grep -E "^\||Result|Preset|TPOT|TTFT|throughput" $O/bench_serve.txt | head -40;;
gmem) timeout 300 b/bench_gpu_e2e --preset dsv3-slice --layers 4 --fp8 --graph-memory \
    ${GMEM:-256:110000,256:110000,256:110000:0,256:4096,64:110000,64:110000:0,32:163840,8:163840,1:163840} \
    > $O/gmem.txt 2>&1; st "graph memory rc=$?"; grep -E "\||rror" $O/gmem.txt | head -20;;
fp8ws) timeout 150 b/test_cuda --gtest_color=no --gtest_filter='*MlaAttention*:*Knob*' > $O/t_mla.log 2>&1; st "mla tests rc=$?"
  grep -E "^\[  PASSED|FAILED|Failure|Expected|Which|seed" $O/t_mla.log | head -20
  timeout 200 b/bench_cuda_attention --decode-small > $O/attn_small.txt 2>&1; st "attention bench rc=$?"
  grep -E "copy|paged|ws|wgmma" $O/attn_small.txt | head -60
  timeout 240 b/bench_gpu_e2e --preset dsv3-slice --layers 4 --fp8 --kv-cache-dtype fp8 --context 4096 --prefill 0 \
    --batches 1,32,64 --ab mla-fp8-ws=0,1 > $O/e2e_fp8ws.txt 2>&1; st "e2e fp8 cache A/B rc=$?"
  grep -vE "^\s*$" $O/e2e_fp8ws.txt | grep -E "\||captured|copy|rror" | head -30;;
small8) timeout 150 b/test_cuda --gtest_color=no --gtest_filter='*MlaAttention*:*Knob*' > $O/t_mla8.log 2>&1; st "mla tests rc=$?"
  grep -E "^\[  PASSED|FAILED|Failure|Expected|Which|seed" $O/t_mla8.log | head -20
  timeout 150 b/bench_cuda_attention --decode-small > $O/attn_small.txt 2>&1; st "attention bench rc=$?"
  grep -E "copy|small\+f8|ws\+f8" $O/attn_small.txt | head -40;;
comb) timeout 150 b/test_cuda --gtest_color=no --gtest_filter='*CombineGroups*:*CombineBlocks*:*Knob*' > $O/t_comb.log 2>&1; st "combine tests rc=$?"
  grep -E "^\[  PASSED|FAILED|Failure|Expected|Which|seed" $O/t_comb.log | head -20
  timeout 300 b/bench_cuda_attention --combine > $O/attn_combine.txt 2>&1; st "combine sweep rc=$?"
  grep -E "copy|combine|defaults" $O/attn_combine.txt | head -20;;
splits16) timeout 200 b/bench_cuda_attention --small-splits ${S16_ARGS:-} > $O/attn_splits16${S16_TAG:-}.txt 2>&1; st "16-head split sweep rc=$?";;
ruleab) timeout 150 b/test_cuda --gtest_color=no --gtest_filter='*MlaAttention*:*Knob*' > $O/t_rule.log 2>&1; st "mla tests rc=$?"
  grep -E "^\[  PASSED|FAILED|Failure|Expected|Which|seed" $O/t_rule.log | head -20
  vs=${RA_KNOBS:-now}; [ -x b/bench_cuda_attention_base ] && vs="base $vs"
  for r in ${RA_ROUNDS:-1 2}; do for v in $vs; do bin=b/bench_cuda_attention; args=
    case $v in base) bin=b/bench_cuda_attention_base;; now) ;; *) args="--knob $v";; esac
    tag=$(printf %s "$v" | tr -c 'a-zA-Z0-9_-' _)
    timeout 100 $bin --small-rule $args > $O/rule_${tag}_$r.txt 2>&1; st "16-head rule, $v, round $r rc=$?"; done; done
  python3 bench/peers/ab_columns.py $O/rule_*_*.txt;;
combe2e) timeout 240 b/bench_gpu_e2e --preset dsv3-slice --layers 4 --fp8 --prefill 0 --batches 1,8 --context ${CE_CONTEXT:-4096} --ab ${CE_AB:-mla-combine-groups=1,0} > $O/combe2e.txt 2>&1; st "e2e combine groups A/B rc=$?"
  grep -E "\||copy|rror" $O/combe2e.txt | head -20;;
load) SABLE_PINNED_WEIGHTS=1 timeout 200 b/test_cuda --gtest_color=no --gtest_filter='*WeightUploader*:*CudaForwardFixture*:*Engine*:*TinyModel*' > $O/t_load.log 2>&1; st "upload + forward tests, pinned weights rc=$?"; tail -3 $O/t_load.log
  for r in ${LOAD_RUNS:-bf16:0 bf16:1 fp8:1}; do dt=${r%:*} v=${r#*:} f=; [ $dt = fp8 ] && f=--fp8
    SABLE_PINNED_WEIGHTS=$v timeout 200 b/bench_gpu_e2e --preset dsv3-slice --layers 4 $f --batches 1 --prefill 0 > $O/load_${dt}_$v.txt 2>&1
    st "load $dt pinned=$v rc=$?"; grep -E "built in|^\| 1 |rror" $O/load_${dt}_$v.txt | head -4; done;;
dummy) echo "THP: $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>&1)"; nproc
  for f in "" --fp8; do timeout 120 b/bench_dummy_weights --experts ${DUMMY_EXPERTS:-64} $f > $O/dummy$f.txt 2>&1; st "dummy generator $f rc=$?"; cat $O/dummy$f.txt; done;;
ckpt) M=/tmp/ckpt-${CKPT_PRESET:-dsv3-slice}-fp8
  [ -f $M/config.json ] || { timeout 300 b/sable make-model --preset ${CKPT_PRESET:-dsv3-slice} --layers ${CKPT_LAYERS:-2} --fp8 \
    --tokenizer deepseek-v3 --shard-size-gb 4 --out $M > $O/ckpt_make.txt 2>&1; st "make-model rc=$?"; tail -1 $O/ckpt_make.txt; }
  for v in ${CKPT_RUNS:-0 1}; do
    # The page cache dropped where the machine allows it (root), else the files are read from memory.
    sync; c=warm; echo 3 2> /dev/null > /proc/sys/vm/drop_caches && c=cold
    SABLE_PINNED_WEIGHTS=$v b/sable serve --model $M --device ${CKPT_DEVICE:-cuda} --port 8012 --enforce-eager --max-model-len 4096 \
      --disable-log-stats > $O/ckpt_serve_$v.log 2>&1 & pid=$!
    for i in $(seq 300); do grep -qE "loaded|rror" $O/ckpt_serve_$v.log && break; kill -0 $pid 2> /dev/null || break; sleep 1; done
    st "checkpoint load, pinned=$v, page cache $c"; grep -E "loaded|rror" $O/ckpt_serve_$v.log | head -3
    kill $pid 2> /dev/null; wait $pid 2> /dev/null; done;;
esac; done
