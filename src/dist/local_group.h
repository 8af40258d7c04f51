// The single-process stand-in for NCCL: the ranks of a tensor-parallel group
// are threads of this process and their tensors are host memory (the CPU
// backend), so a collective is a rendezvous: each rank publishes its tensor,
// then reads the others'. Used for CPU serving with --tensor-parallel-size
// (a correctness path: no speedup over one rank) and by the tests of the
// sharded model.
#pragma once

#include <memory>
#include <vector>

#include "dist/communicator.h"

namespace sable {

// One Communicator per rank of a group of `size`, all sharing one rendezvous.
std::vector<std::unique_ptr<Communicator>> make_local_group(int size);

}  // namespace sable
