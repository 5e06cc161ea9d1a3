// What instrumented code uses: handles to one series' cells in this process's slot, resolved
// once and kept, so an increment is one relaxed atomic add on memory no other process writes.
// A handle from a disabled Metrics (the default) does nothing, so callers need no checks.
#pragma once

#include "common/metrics/metric_names.hpp"
#include "common/metrics/metrics_region.hpp"
#include "common/metrics/region_layout.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

namespace upesi::metrics {

class Counter {
public:
  Counter() = default;
  explicit Counter(std::uint64_t* cell) : cell_(cell) {}

  void add(std::uint64_t n = 1) const {
    if (cell_ != nullptr) {
      addRelaxed(*cell_, n);
    }
  }

private:
  std::uint64_t* cell_ = nullptr;
};

/// A signed value stored as two's complement in its cell; live workers' values are merged as
/// the metric's definition says (sum or max), an exited worker's are dropped.
class Gauge {
public:
  Gauge() = default;
  explicit Gauge(std::uint64_t* cell) : cell_(cell) {}

  void set(std::int64_t value) const {
    if (cell_ != nullptr) {
      storeRelaxed(*cell_, static_cast<std::uint64_t>(value));
    }
  }
  void add(std::int64_t n = 1) const {
    if (cell_ != nullptr) {
      addRelaxed(*cell_, static_cast<std::uint64_t>(n));
    }
  }
  void sub(std::int64_t n = 1) const {
    if (cell_ != nullptr) {
      addRelaxed(*cell_, 0 - static_cast<std::uint64_t>(n)); // unsigned: wraps, never overflows
    }
  }

private:
  std::uint64_t* cell_ = nullptr;
};

/// Cells: one count per bucket as observed (made cumulative when rendered), one for +Inf, then
/// the sum in nanoseconds, an integer so adding across slots is exact. The count is the sum of
/// the buckets, so a scrape never sees count and +Inf disagree.
class Histogram {
public:
  Histogram() = default;
  Histogram(std::uint64_t* cells, std::span<const double> bounds)
      : cells_(cells), bounds_(bounds) {}

  /// Negative and NaN count as 0; the sum takes at most a billion seconds per observation.
  void observe(double seconds) const;

private:
  std::uint64_t* cells_ = nullptr;
  std::span<const double> bounds_;
};

class Metrics {
public:
  /// Disabled: every handle it gives does nothing.
  Metrics() = default;
  /// Writes into `slot` of `region`: a worker's slot from the master, or slot 0 for the
  /// master's own counters (restarts, reloads), which only ever add to the retired totals.
  Metrics(std::shared_ptr<MetricsRegion> region, std::uint32_t slot);

  /// One process serving alone (nodes=0): a region of its own, writing slot 1.
  static std::optional<Metrics> standalone(std::string& error);

  bool enabled() const { return region_ != nullptr; }
  const MetricsRegion* region() const { return region_.get(); }
  std::uint32_t slot() const { return slot_; }

  /// `labels` as labelPair builds them, joined by commas; empty for a metric without labels.
  /// A handle of the wrong type for `id` is a no-op (and asserts in debug builds).
  Counter counter(MetricId id, std::string_view labels = {});
  Gauge gauge(MetricId id, std::string_view labels = {});
  Histogram histogram(MetricId id, std::string_view labels = {});

private:
  std::uint64_t* cells(MetricId id, MetricType type, std::string_view labels);

  std::shared_ptr<MetricsRegion> region_;
  std::uint32_t slot_ = 0;
  std::unordered_map<std::string, std::uint32_t> cells_; // key: id's two bytes, then labels
};

/// The process's Metrics: a disabled one until installMetrics.
Metrics& metrics();

/// Install once, at start, before handles are taken: handles point into this one's region.
void installMetrics(Metrics installed);

/// Changes at every installMetrics (0 before the first): a handle kept from an older
/// generation points into a region that may be gone (cached_handle.hpp).
std::uint64_t metricsGeneration();

} // namespace upesi::metrics
