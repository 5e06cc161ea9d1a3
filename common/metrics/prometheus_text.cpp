#include "common/metrics/prometheus_text.hpp"

#include "common/metrics/series_table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <sched.h>
#include <vector>

namespace upesi::metrics {
namespace {

// A scrape during a slot fold reads again; a fold takes microseconds, so a few retries do.
constexpr int kReadAttempts = 100;

struct SeriesValues {
  std::vector<std::uint32_t> cells; // more than one when a dead writer left a duplicate entry
  std::vector<std::uint64_t> values;
  bool fallback = false;
};

using MetricSeries = std::map<std::string_view, SeriesValues>; // by labels
using Snapshot = std::vector<MetricSeries>;                    // by metric id

Snapshot collectSeries(const MetricsRegion& region) {
  Snapshot snapshot(metricDefinitions().size());
  forEachSeries(region.view(), [&](const SeriesRef& series) {
    SeriesValues& values = snapshot[static_cast<std::size_t>(series.metric)][series.labels];
    values.cells.push_back(series.cell);
    values.fallback = values.fallback || series.fallback;
  });
  return snapshot;
}

// A series' value in one slot: its duplicates' cells added (only one is written per process).
std::uint64_t slotValue(const RegionView& view, std::uint32_t slot, const SeriesValues& series,
                        std::uint32_t index) {
  std::uint64_t value = 0;
  for (std::uint32_t cell : series.cells) {
    value += loadRelaxed(*view.cell(slot, cell + index));
  }
  return value;
}

void readValues(const MetricsRegion& region, Snapshot& snapshot) {
  const RegionView& view = region.view();
  for (const MetricDefinition& metric : metricDefinitions()) {
    const std::uint32_t width = cellsPerSeries(metric);
    for (auto& [labels, series] : snapshot[static_cast<std::size_t>(metric.id)]) {
      series.values.assign(width, 0);
      for (std::uint32_t i = 0; i < width; ++i) {
        if (metric.type != MetricType::Gauge) {
          for (std::uint32_t slot = 0; slot < region.slotCount(); ++slot) {
            series.values[i] += slotValue(view, slot, series, i);
          }
          continue;
        }
        // Gauges: live slots only; slot 0 holds none.
        std::int64_t merged = 0;
        for (std::uint32_t slot = 1; slot < region.slotCount(); ++slot) {
          const auto value = static_cast<std::int64_t>(slotValue(view, slot, series, i));
          merged = metric.merge == GaugeMerge::Max
                       ? std::max(merged, value)
                       : static_cast<std::int64_t>(static_cast<std::uint64_t>(merged) +
                                                   static_cast<std::uint64_t>(value));
        }
        series.values[i] = static_cast<std::uint64_t>(merged);
      }
    }
  }
}

std::string_view typeName(MetricType type) {
  switch (type) {
  case MetricType::Counter:
    return "counter";
  case MetricType::Gauge:
    return "gauge";
  case MetricType::Histogram:
    return "histogram";
  }
  return "untyped";
}

void appendSample(std::string& out, std::string_view name, std::string_view suffix,
                  std::string_view labels, std::string_view extra_label, std::string_view value) {
  out += name;
  out += suffix;
  if (!labels.empty() || !extra_label.empty()) {
    out += '{';
    out += labels;
    if (!labels.empty() && !extra_label.empty()) {
      out += ',';
    }
    out += extra_label;
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

void appendHistogram(std::string& out, const MetricDefinition& metric, std::string_view labels,
                     const std::vector<std::uint64_t>& values) {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= metric.buckets.size(); ++i) {
    cumulative += values[i];
    const std::string le = i < metric.buckets.size() ? fmt::format("le=\"{}\"", metric.buckets[i])
                                                     : std::string("le=\"+Inf\"");
    appendSample(out, metric.name, "_bucket", labels, le, fmt::format("{}", cumulative));
  }
  const double seconds = static_cast<double>(values[metric.buckets.size() + 1]) / 1e9;
  appendSample(out, metric.name, "_sum", labels, {}, fmt::format("{}", seconds));
  appendSample(out, metric.name, "_count", labels, {}, fmt::format("{}", cumulative));
}

void appendMetric(std::string& out, const MetricDefinition& metric, const MetricSeries& series) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", metric.name, escapeHelp(metric.help),
                     metric.name, typeName(metric.type));
  for (const auto& [labels, values] : series) {
    const bool empty = std::all_of(values.values.begin(), values.values.end(),
                                   [](std::uint64_t v) { return v == 0; });
    if (values.fallback && !labels.empty() && empty) {
      continue; // an overflow series nothing has gone to yet
    }
    switch (metric.type) {
    case MetricType::Counter:
      appendSample(out, metric.name, {}, labels, {}, fmt::format("{}", values.values[0]));
      break;
    case MetricType::Gauge:
      appendSample(out, metric.name, {}, labels, {},
                   fmt::format("{}", static_cast<std::int64_t>(values.values[0])));
      break;
    case MetricType::Histogram:
      appendHistogram(out, metric, labels, values.values);
      break;
    }
  }
}

} // namespace

std::string escapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string renderPrometheus(const MetricsRegion& region) {
  Snapshot snapshot;
  for (int attempt = 1;; ++attempt) {
    const std::uint32_t sequence = region.beginRead();
    snapshot = collectSeries(region);
    readValues(region, snapshot);
    if (!region.readAgain(sequence) || attempt == kReadAttempts) {
      break;
    }
    ::sched_yield();
  }
  std::string out;
  for (const MetricDefinition& metric : metricDefinitions()) {
    appendMetric(out, metric, snapshot[static_cast<std::size_t>(metric.id)]);
  }
  return out;
}

} // namespace upesi::metrics
