// A handle taken at its first use after installMetrics, and again after each later one. Objects
// made before the process installs its metrics then count once it has, and a handle never
// outlives the region it points into (unit tests install one region after another).
//
// Threading: the thread that uses the handle (the loop thread).
#pragma once

#include "common/metrics/metrics.hpp"

#include <cstdint>

namespace upesi::metrics {

template <typename Handle> class CachedHandle {
public:
  /// The handle `resolve(Metrics&)` gives, called at most once per generation.
  template <typename Resolve> const Handle& get(Resolve&& resolve) {
    const std::uint64_t now = metricsGeneration();
    if (generation_ != now) {
      handle_ = resolve(metrics());
      generation_ = now;
    }
    return handle_;
  }

private:
  Handle handle_;
  std::uint64_t generation_ = 0; // that of the disabled Metrics, whose handles do nothing
};

} // namespace upesi::metrics
