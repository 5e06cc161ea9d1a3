#include "common/metrics/metric_names.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>

using namespace upesi::metrics;

namespace {

bool validName(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) {
    return false;
  }
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return false;
    }
  }
  return true;
}

} // namespace

TEST_CASE("metric names: in id order, unique, upesi_ prefix, Prometheus suffixes and units") {
  std::set<std::string_view> names;
  std::size_t index = 0;
  for (const MetricDefinition& metric : metricDefinitions()) {
    CAPTURE(metric.name);
    CHECK(static_cast<std::size_t>(metric.id) == index++);
    CHECK(&definition(metric.id) == &metric);
    CHECK(validName(metric.name));
    CHECK(metric.name.starts_with("upesi_"));
    CHECK(names.insert(metric.name).second);
    CHECK_FALSE(metric.help.empty());
    switch (metric.type) {
    case MetricType::Counter:
      CHECK(metric.name.ends_with("_total"));
      CHECK(metric.buckets.empty());
      CHECK(cellsPerSeries(metric) == 1);
      break;
    case MetricType::Gauge:
      CHECK_FALSE(metric.name.ends_with("_total"));
      CHECK(metric.label_names.empty());
      CHECK(cellsPerSeries(metric) == 1);
      break;
    case MetricType::Histogram:
      CHECK(metric.name.ends_with("_seconds"));
      REQUIRE_FALSE(metric.buckets.empty());
      CHECK(metric.buckets.front() > 0);
      for (std::size_t i = 1; i < metric.buckets.size(); ++i) {
        CHECK(metric.buckets[i - 1] < metric.buckets[i]);
      }
      CHECK(cellsPerSeries(metric) == metric.buckets.size() + 2);
      break;
    }
    std::set<std::string_view> labels;
    for (std::string_view label : metric.label_names) {
      CHECK(validName(label));
      CHECK(label != "le");
      CHECK(label != "overflow");
      CHECK(labels.insert(label).second);
    }
  }
  CHECK(index == metricDefinitions().size());
  CHECK(definitionsFingerprint() != 0);
}

TEST_CASE("metric names: those an operator looks for exist with the labels dashboards use") {
  CHECK(definition(MetricId::SmtpConnections).name == "upesi_smtp_connections_total");
  CHECK(definition(MetricId::SmtpConnections).label_names.size() == 1);
  CHECK(definition(MetricId::SmtpRecipientsRejected).label_names[0] == "class");
  CHECK(definition(MetricId::SmtpRecipientsRejected).label_names[1] == "plugin");
  CHECK(definition(MetricId::HookDuration).type == MetricType::Histogram);
  CHECK(definition(MetricId::HookDuration).buckets.front() == 0.0005);
  CHECK(definition(MetricId::HookDuration).buckets.back() == 30);
  CHECK(definition(MetricId::QueueOldestAge).merge == GaugeMerge::Max);
  CHECK(definition(MetricId::QueueFiles).merge == GaugeMerge::Sum);
}
