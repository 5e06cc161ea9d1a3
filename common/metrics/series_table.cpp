#include "common/metrics/series_table.hpp"

#include "common/metrics/labels.hpp"

#include <atomic>
#include <chrono>
#include <cstring>
#include <sched.h>
#include <vector>

namespace upesi::metrics {
namespace {

// How long a prober waits for another process to finish writing an entry with its key's hash.
// Writing one takes microseconds; past this the writer is taken for dead.
constexpr auto kPublishWait = std::chrono::milliseconds(50);

const std::vector<std::uint32_t>& fallbackCells() {
  static const std::vector<std::uint32_t> cells = [] {
    std::vector<std::uint32_t> first;
    std::uint32_t next = 0;
    for (const MetricDefinition& metric : metricDefinitions()) {
      first.push_back(next);
      next += cellsPerSeries(metric);
    }
    first.push_back(next);
    return first;
  }();
  return cells;
}

std::uint32_t keyHash(MetricId metric, std::string_view labels) {
  std::uint32_t hash = 2166136261U; // FNV-1a
  auto mix = [&hash](unsigned char byte) {
    hash ^= byte;
    hash *= 16777619U;
  };
  const auto id = static_cast<std::uint16_t>(metric);
  mix(static_cast<unsigned char>(id & 0xFFU));
  mix(static_cast<unsigned char>(id >> 8));
  for (char c : labels) {
    mix(static_cast<unsigned char>(c));
  }
  return hash;
}

std::uint32_t allocateCells(RegionHeader& header, std::uint32_t count) {
  std::atomic_ref<std::uint32_t> next(header.next_cell);
  std::uint32_t first = next.load(std::memory_order_relaxed);
  do {
    if (std::uint64_t{first} + count > header.cells_per_slot) {
      return kNoCell;
    }
  } while (!next.compare_exchange_weak(first, first + count, std::memory_order_relaxed));
  return first;
}

std::uint64_t awaitPublished(std::atomic_ref<std::uint64_t> tag) {
  const auto give_up = std::chrono::steady_clock::now() + kPublishWait;
  std::uint64_t seen = tag.load(std::memory_order_acquire);
  for (int round = 0; (seen & kStateMask) == kWriting; ++round) {
    if (round >= 64) {
      if (std::chrono::steady_clock::now() > give_up) {
        break;
      }
      ::sched_yield();
    }
    seen = tag.load(std::memory_order_acquire);
  }
  return seen;
}

} // namespace

std::uint32_t fallbackCell(MetricId metric) {
  return fallbackCells()[static_cast<std::size_t>(metric)];
}

std::uint32_t fallbackCellCount() {
  return fallbackCells().back();
}

std::string_view fallbackLabels(MetricId metric) {
  return definition(metric).label_names.empty() ? std::string_view{} : kOverflowLabels;
}

bool publishedEntry(const SeriesEntry& entry) {
  auto tag = std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(entry.tag))
                 .load(std::memory_order_acquire);
  return (tag & kStateMask) == kPublished;
}

std::uint32_t findOrAddSeries(const RegionView& region, MetricId metric, std::string_view labels) {
  const MetricDefinition& def = definition(metric);
  if (labels.empty() && def.label_names.empty()) {
    return fallbackCell(metric);
  }
  if (labels.size() > kMaxLabelBytes || !wellFormedLabels(labels)) {
    return fallbackCell(metric);
  }
  const std::uint32_t hash = keyHash(metric, labels);
  const std::uint64_t key_tag = std::uint64_t{hash} << 2;
  const std::uint32_t capacity = region.header->series_capacity;
  for (std::uint32_t probe = 0; probe < capacity; ++probe) {
    SeriesEntry& entry = region.entries[(hash + probe) % capacity];
    std::atomic_ref<std::uint64_t> tag(entry.tag);
    std::uint64_t seen = 0;
    if (tag.compare_exchange_strong(seen, key_tag | kWriting, std::memory_order_acquire)) {
      // Ours: nobody reads the fields until the release store below publishes them.
      entry.metric = static_cast<std::uint16_t>(metric);
      entry.label_length = static_cast<std::uint16_t>(labels.size());
      std::memcpy(entry.labels, labels.data(), labels.size());
      entry.cell = allocateCells(*region.header, cellsPerSeries(def));
      tag.store(key_tag | kPublished, std::memory_order_release);
      return entry.cell == kNoCell ? fallbackCell(metric) : entry.cell;
    }
    if ((seen & ~kStateMask) != key_tag) {
      continue; // another key's entry
    }
    if ((seen & kStateMask) == kWriting) {
      seen = awaitPublished(tag);
      if ((seen & kStateMask) != kPublished) {
        continue;
      }
    }
    if (entry.metric == static_cast<std::uint16_t>(metric) &&
        std::string_view(entry.labels, entry.label_length) == labels) {
      return entry.cell == kNoCell ? fallbackCell(metric) : entry.cell;
    }
  }
  return fallbackCell(metric);
}

} // namespace upesi::metrics
