// The host allocator for weights made at load (core/tensor.cpp implements
// it beside cpu_allocator).
#pragma once

#include "core/tensor.h"

namespace sable {

// Host memory for large blocks written once and kept a while (weights made
// at load): from 4 MiB up, anonymous mappings, unmapped when freed; smaller
// blocks as cpu_allocator(). Why: the dummy slice's weights are tens of GB,
// and from malloc each tensor was faulted in and zeroed by one thread (the
// memset of Tensor::empty) before the pool's threads wrote it: on 16 cores
// that serial pass was about half of the generator's time. A mapping is zero
// already (no memset); its pages are faulted in by the threads that write
// them, as 2 MiB pages where transparent huge pages allow. Not the default:
// a step's activations would pay the faults at every allocation where malloc
// reuses warm memory. Blocks made one after another share kernel mappings
// where the kernel can merge them (test ExpertBlocksShareKernelMappings), so a
// full model's ~45 k experts stay far below vm.max_map_count.
Allocator& mapped_host_allocator();

}  // namespace sable
