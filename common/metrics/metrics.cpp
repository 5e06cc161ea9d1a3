#include "common/metrics/metrics.hpp"

#include "common/metrics/series_table.hpp"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cmath>

namespace upesi::metrics {
namespace {

constexpr double kMaxObservedSeconds = 1e9;

std::unique_ptr<Metrics>& installed() {
  static std::unique_ptr<Metrics> instance = std::make_unique<Metrics>();
  return instance;
}

// Written at start (and between unit tests), read on the loop thread.
std::atomic<std::uint64_t> generation{0};

} // namespace

void Histogram::observe(double seconds) const {
  if (cells_ == nullptr) {
    return;
  }
  if (!(seconds > 0)) {
    seconds = 0;
  }
  const auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), seconds) - bounds_.begin();
  addRelaxed(cells_[bucket], 1);
  const double nanoseconds = std::min(seconds, kMaxObservedSeconds) * 1e9;
  addRelaxed(cells_[bounds_.size() + 1], static_cast<std::uint64_t>(std::llround(nanoseconds)));
}

Metrics::Metrics(std::shared_ptr<MetricsRegion> region, std::uint32_t slot)
    : region_(std::move(region)), slot_(slot) {
  assert(region_ != nullptr && slot_ < region_->slotCount());
}

std::optional<Metrics> Metrics::standalone(std::string& error) {
  auto region = MetricsRegion::create({.slots = MetricsRegion::slotsForNodes(0)}, error);
  if (!region) {
    return std::nullopt;
  }
  const std::optional<std::uint32_t> slot = region->acquireSlot();
  assert(slot.has_value());
  return Metrics(std::make_shared<MetricsRegion>(std::move(*region)), *slot);
}

std::uint64_t* Metrics::cells(MetricId id, MetricType type, std::string_view labels) {
  if (region_ == nullptr) {
    return nullptr;
  }
  const MetricDefinition& metric = definition(id);
  assert(metric.type == type && "a handle of the metric's own type");
  if (metric.type != type) {
    return nullptr;
  }
  std::string key;
  key.reserve(2 + labels.size());
  const auto raw = static_cast<std::uint16_t>(id);
  key += static_cast<char>(raw & 0xFFU);
  key += static_cast<char>(raw >> 8);
  key += labels;
  auto it = cells_.find(key);
  if (it == cells_.end()) {
    it = cells_.emplace(std::move(key), findOrAddSeries(region_->view(), id, labels)).first;
  }
  return region_->view().cell(slot_, it->second);
}

Counter Metrics::counter(MetricId id, std::string_view labels) {
  return Counter(cells(id, MetricType::Counter, labels));
}

Gauge Metrics::gauge(MetricId id, std::string_view labels) {
  return Gauge(cells(id, MetricType::Gauge, labels));
}

Histogram Metrics::histogram(MetricId id, std::string_view labels) {
  std::uint64_t* first = cells(id, MetricType::Histogram, labels);
  return first == nullptr ? Histogram() : Histogram(first, definition(id).buckets);
}

Metrics& metrics() {
  return *installed();
}

void installMetrics(Metrics installing) {
  installed() = std::make_unique<Metrics>(std::move(installing));
  generation.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t metricsGeneration() {
  return generation.load(std::memory_order_relaxed);
}

} // namespace upesi::metrics
