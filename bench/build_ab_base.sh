#!/bin/bash
# A baseline binary for a device A/B of a kernel change, built in the same
# build directory: the listed source files as they are at REV, the rest of the
# tree as it is now (so both binaries take the same flags, e.g. a new bench
# mode). The files are restored, and the build brought back to the tree's
# state, whatever happens. Example (the in-kernel combine's A/B):
#   bench/build_ab_base.sh /tmp/bld bench_cuda_attention 433d9aa \
#     src/backend/cuda/mla_attention_small.cu src/backend/cuda/mla_attention_small_regs.cu
# leaves /tmp/bld/bench/bench_cuda_attention_base; pack it as gpu-bin/bench_cuda_attention_base.xz
# (prebuilt_run.sh unpacks it to b/bench_cuda_attention_base).
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: $0 BUILD_DIR TARGET REV FILE..." >&2; exit 2; }
bld=$1 target=$2 rev=$3; shift 3
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
save=$(mktemp -d)
restore() {
  # A plain copy: the restored files must be newer than the baseline's objects.
  for f in "$@"; do cp "$save/$(echo "$f" | tr / _)" "$repo/$f"; done
  rm -rf "$save"
}
for f in "$@"; do
  git -C "$repo" cat-file -e "$rev:$f" || { echo "$f: not in $rev" >&2; rm -rf "$save"; exit 2; }
  cp -p "$repo/$f" "$save/$(echo "$f" | tr / _)"
done
trap 'restore "$@"' EXIT
for f in "$@"; do git -C "$repo" show "$rev:$f" > "$repo/$f"; done
PATH=/usr/local/cuda/bin:$PATH ninja -C "$bld" "$target"
out=$(find "$bld" -type f -name "$target" -perm -u+x | head -1)
cp "$out" "${out}_base"
echo "baseline: ${out}_base ($* at $rev)"
restore "$@"; trap - EXIT
PATH=/usr/local/cuda/bin:$PATH ninja -C "$bld" "$target"
