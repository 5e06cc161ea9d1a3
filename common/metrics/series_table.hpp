// The shared series table: which (metric, labels) series exist and where their cells are.
// Any process may add a series; two adding the same key at once end with one entry.
//
// Every metric also has a fallback series in cells laid out before the table's: for a metric
// without labels it is the metric's one series; for a labelled metric it is
// `name{overflow="true"}`, which takes the values of series that found the table or the value
// space full, or whose labels were not well-formed. So a full table loses labels, never
// counts, and never grows.
#pragma once

#include "common/metrics/metric_names.hpp"
#include "common/metrics/region_layout.hpp"

#include <cstdint>
#include <string_view>

namespace upesi::metrics {

inline constexpr std::string_view kOverflowLabels = "overflow=\"true\"";

std::uint32_t fallbackCell(MetricId metric);
/// The cells all fallback series take; the table's series come after them.
std::uint32_t fallbackCellCount();
/// "" for a metric without labels, kOverflowLabels for the others.
std::string_view fallbackLabels(MetricId metric);

/// The first cell of the series (metric, labels) in each slot, added if new. Labels that are
/// not well-formed or longer than kMaxLabelBytes, a full table and full value space all give
/// the metric's fallback cell. An entry another process is writing is waited for briefly; one
/// left half-written by a process that died is passed over (the renderer merges duplicates).
std::uint32_t findOrAddSeries(const RegionView& region, MetricId metric, std::string_view labels);

struct SeriesRef {
  MetricId metric;
  std::string_view labels;
  std::uint32_t cell;
  bool fallback;
};

/// Calls fn(SeriesRef) for each fallback series, then each published series of the table.
template <typename Fn> void forEachSeries(const RegionView& region, Fn&& fn);

/// The table's entry states are read with acquire: a published entry's key and cell are whole.
bool publishedEntry(const SeriesEntry& entry);

template <typename Fn> void forEachSeries(const RegionView& region, Fn&& fn) {
  for (const MetricDefinition& metric : metricDefinitions()) {
    fn(SeriesRef{metric.id, fallbackLabels(metric.id), fallbackCell(metric.id), true});
  }
  const auto metric_count = metricDefinitions().size();
  for (std::uint32_t i = 0; i < region.header->series_capacity; ++i) {
    const SeriesEntry& entry = region.entries[i];
    if (!publishedEntry(entry) || entry.cell == kNoCell || entry.metric >= metric_count ||
        entry.label_length > kMaxLabelBytes) {
      continue;
    }
    const auto metric = static_cast<MetricId>(entry.metric);
    if (std::uint64_t{entry.cell} + cellsPerSeries(definition(metric)) >
        region.header->cells_per_slot) {
      continue;
    }
    fn(SeriesRef{metric, std::string_view(entry.labels, entry.label_length), entry.cell, false});
  }
}

} // namespace upesi::metrics
