// Runtime switches of the CUDA backend's tuning choices, by name, for A/B
// timing inside one process (bench_gpu_e2e --ab): each name maps to one of
// the testing setters next to the code it steers. They act where host code
// decides (an eager call, or a CUDA graph while it is captured), so a graph
// keeps the choices of its capture. Across processes the same A/B carries a
// 15-20 us spread in a ~1.4 ms decode step and pays the weight build again
// per value (bench/results/2026-12-01-0f78ca0-producer-fp8-and-fused-gate-ab.md).
// Not thread-safe: set them between launches.
#pragma once

#include <string>
#include <vector>

namespace sable::cuda {

// False for an unknown name or a value the knob does not take.
bool set_knob(const std::string& name, int value);
// "name: values" lines, for --help and errors.
std::vector<std::string> knob_help();

}  // namespace sable::cuda
