// src/apps/ is compiled into the sable binary only, not sable_lib; the
// tests build the benchmark's pure parts from their sources here.
#include "apps/bench_stats.cpp"
