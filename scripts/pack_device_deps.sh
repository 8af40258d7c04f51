#!/usr/bin/env bash
# Packs the build dependencies that the GPU machine's image lacks (CLI11
# headers, PCRE2 headers and static library) into .deps/, which git ignores
# and the device tool carries (carry: [".deps"]). Run here, before a GPU run.
set -euo pipefail
cd "$(dirname "$0")/.."
for f in /usr/include/CLI /usr/include/pcre2.h /usr/lib/x86_64-linux-gnu/libpcre2-8.a; do
  if [ ! -e "$f" ]; then
    echo "pack_device_deps: $f is missing on this machine; run scripts/setup.sh first (it installs CLI11 and PCRE2)" >&2
    exit 1
  fi
done
rm -rf .deps && mkdir -p .deps/include .deps/lib
cp -r /usr/include/CLI .deps/include/
cp /usr/include/pcre2.h .deps/include/
cp /usr/lib/x86_64-linux-gnu/libpcre2-8.a .deps/lib/
du -sh .deps
