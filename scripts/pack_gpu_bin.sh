#!/bin/bash
# Packs the device binaries of a build here (Release, -DSABLE_STATIC_RUNTIME=ON,
# sm_90a) into gpu-bin/ for bench/prebuilt_run.sh: stripped, xz-compressed
# (the carried tree must stay under 64 MiB), with gpu-bin/COMMIT naming the
# commit they were built from, "-dirty" if the tree had uncommitted changes
# to tracked files. Why: a device record has to say which code it measured,
# and the binaries can be older than the tree they travel with.
#   scripts/pack_gpu_bin.sh [BUILD_DIR, default /tmp/bld] [extra binaries relative to it...]
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BLD=${1:-/tmp/bld}
[ $# -gt 0 ] && shift
BINS="sable tests/test_cuda bench/bench_gpu_e2e bench/bench_dummy_weights bench/bench_cuda_attention bench/bench_cuda_ops $*"
for b in $BINS; do
  [ -x "$BLD/$b" ] || { echo "pack_gpu_bin: $BLD/$b is missing; build first (cd $BLD && ninja)" >&2; exit 1; }
  # A binary older than a source file it may contain is a stale build.
  if [ -n "$(find "$REPO/src" "$REPO/tests" "$REPO/bench" -newer "$BLD/$b" \( -name '*.c[cu]*' -o -name '*.cpp' \
      -o -name '*.h' -o -name '*.inc' -o -name CMakeLists.txt \) -print -quit)" ]; then
    echo "pack_gpu_bin: $BLD/$b is older than sources in $REPO; rebuild first (cd $BLD && ninja)" >&2; exit 1
  fi
done
mkdir -p "$REPO/gpu-bin"
grep -qx gpu-bin "$REPO/.git/info/exclude" 2> /dev/null || { mkdir -p "$REPO/.git/info"; echo gpu-bin >> "$REPO/.git/info/exclude"; }
rm -f "$REPO"/gpu-bin/*.xz "$REPO"/gpu-bin/*.gz
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
for b in $BINS; do
  strip -o "$tmp" "$BLD/$b"
  xz -6 -T0 -c "$tmp" > "$REPO/gpu-bin/$(basename "$b").xz"
done
commit=$(git -C "$REPO" rev-parse --short HEAD)
# Only what compiles into them counts (scripts and docs beside them do not).
git -C "$REPO" diff --quiet HEAD -- '*.cpp' '*.cc' '*.cu' '*.cuh' '*.h' '*.inc' '*CMakeLists.txt' '*.cmake' ||
  commit="$commit-dirty"
echo "$commit" > "$REPO/gpu-bin/COMMIT"
du -ch "$REPO"/gpu-bin/*.xz | tail -1 | sed "s/total/in gpu-bin, built from $commit/"
