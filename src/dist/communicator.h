// Collectives between the ranks of one tensor-parallel group. Each rank holds
// its own Communicator and calls every collective in the same order as the
// others; the tensors are the rank's own, on its backend's device, and the
// work is enqueued in that backend's stream order (the CPU stand-in runs it
// at once). The model calls these at the two places where a sharded layer's
// partial results meet (the sum after a row-parallel projection, and the
// vocabulary shards of lm_head); everything else is rank-local.
#pragma once

#include <stdexcept>

#include "core/tensor.h"

namespace sable {

// Thrown by a collective of a group that abort() broke: the error of a rank
// that waited for one that failed (RankThreads::run reports the failure
// itself rather than this).
class GroupAborted : public std::runtime_error {
 public:
  GroupAborted() : std::runtime_error("tensor-parallel group aborted: another rank failed") {}
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // x <- the sum of every rank's x (same shape and dtype on every rank). Every
  // rank ends with the same values: the CPU stand-in adds in rank order.
  virtual void all_reduce_sum(Tensor& x) = 0;
  // out [N, size * C] <- every rank's x [N, C], rank r's in columns
  // [r * C, (r + 1) * C). x and out contiguous, same dtype.
  virtual void all_gather_columns(const Tensor& x, Tensor& out) = 0;
  // Wakes every rank blocked in a collective with an exception, and makes
  // later collectives throw: a rank that failed between collectives calls it
  // so that the others fail too instead of waiting forever.
  virtual void abort() = 0;
};

}  // namespace sable
