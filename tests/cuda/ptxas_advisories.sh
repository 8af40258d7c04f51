#!/usr/bin/env bash
# Fails when ptxas serializes wgmma in any CUDA source that issues it.
#
# ptxas reports "(C75xx) Potential Performance Loss: wgmma.mma_async
# instructions are serialized due to ..." as an info line and then waits
# after every wgmma of the kernel: the results stay right, only the speed
# goes (the ws MLA kernel ran S at 89 clk per m64n64k16 instead of ~32
# until its warpgroup index was made provably warp-uniform: C7520). The
# reasons seen so far: C7520, a branch ptxas cannot prove warp-uniform;
# C7511, too few registers for the accumulators in flight (a variant of ws
# that issued S(i + 1) behind P V(i) at the 168-register cap of 384
# threads); C7514 and C7513, other instructions reading a wgmma's
# accumulators or defining its register operands while any wgmma is in
# flight (the expanded-prefill kernel's first drafts: O rescaled, P packed
# while S or P V ran). No runtime test can see either, so this compiles each wgmma
# source the way the build does and reads ptxas's report.
# Usage: ptxas_advisories.sh <nvcc> <source dir>
set -u
nvcc=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
checked=0
# Every CUDA source that names wgmma, itself or through a header's helpers.
for f in $(grep -l "wgmma" "$src"/src/backend/cuda/*.cu); do
  checked=$((checked + 1))
  if ! "$nvcc" -DSABLE_HAVE_CUDA=1 -DFMT_HEADER_ONLY -DSPDLOG_FMT_EXTERNAL -DSPDLOG_HEADER_ONLY -I"$src/src" \
      -gencode=arch=compute_90a,code=sm_90a -O3 -DNDEBUG --expt-relaxed-constexpr --extended-lambda -std=c++20 \
      -Xptxas -v -x cu -c "$f" -o "$tmp/out.o" > "$tmp/log" 2>&1; then
    echo "FAIL: $f does not compile:"; cat "$tmp/log"; fail=1; continue
  fi
  if grep -q "wgmma.mma_async instructions are serialized" "$tmp/log"; then
    echo "FAIL: ptxas serializes wgmma in $f:"
    grep "instructions are serialized" "$tmp/log"
    echo "  (C7520: make the branch around the wgmma code warp-uniform, e.g. __shfl_sync the warpgroup index from"
    echo "   lane 0; C7511: fewer accumulator registers live while wgmmas are in flight)"
    fail=1
  else
    echo "ok: $f"
  fi
done
[ "$checked" -gt 0 ] || { echo "FAIL: no wgmma source found under $src/src/backend/cuda"; exit 1; }
exit $fail
