#include "common/metrics/labels.hpp"
#include "common/metrics/metrics.hpp"
#include "common/metrics/prometheus_text.hpp"
#include "common/metrics/series_table.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>

#include "family_lines.hpp"

using namespace upesi::metrics;
using upesi::metrics::test::familyLines;
using upesi::metrics::test::makeRegion;

namespace {

int entriesFor(const RegionView& view, MetricId metric, std::string_view labels) {
  int found = 0;
  forEachSeries(view, [&](const SeriesRef& series) {
    found += (!series.fallback && series.metric == metric && series.labels == labels) ? 1 : 0;
  });
  return found;
}

} // namespace

TEST_CASE("series table: a key is added once and found again; keys differ by metric and labels") {
  auto region = makeRegion();
  const RegionView& view = region->view();
  const std::string relay = labelPair("listener", "relay");
  const std::string submission = labelPair("listener", "submission");
  const std::uint32_t first = findOrAddSeries(view, MetricId::SmtpConnections, relay);
  CHECK(first >= fallbackCellCount());
  CHECK(findOrAddSeries(view, MetricId::SmtpConnections, relay) == first);
  const std::uint32_t other = findOrAddSeries(view, MetricId::SmtpConnections, submission);
  CHECK(other != first);
  const std::uint32_t http =
      findOrAddSeries(view, MetricId::HttpRequests, labelPair("class", "2xx"));
  CHECK(findOrAddSeries(view, MetricId::Deliveries, labelPair("class", "2xx")) != http);
  CHECK(entriesFor(view, MetricId::SmtpConnections, relay) == 1);
  CHECK(entriesFor(view, MetricId::SmtpConnections, submission) == 1);
  // A histogram series takes its buckets, +Inf and the sum.
  const std::uint32_t hook =
      findOrAddSeries(view, MetricId::HookDuration, labelPair("hook", "rcpt"));
  const std::uint32_t after =
      findOrAddSeries(view, MetricId::SmtpConnections, labelPair("listener", "x"));
  CHECK(after - hook == cellsPerSeries(definition(MetricId::HookDuration)));
}

TEST_CASE("series table: a metric without labels is its fallback series, not a table entry") {
  auto region = makeRegion();
  CHECK(findOrAddSeries(region->view(), MetricId::SmtpTransactions, "") ==
        fallbackCell(MetricId::SmtpTransactions));
  int entries = 0;
  forEachSeries(region->view(),
                [&](const SeriesRef& series) { entries += series.fallback ? 0 : 1; });
  CHECK(entries == 0);
  CHECK(fallbackLabels(MetricId::SmtpTransactions).empty());
  CHECK(fallbackLabels(MetricId::SmtpConnections) == kOverflowLabels);
}

TEST_CASE("series table: a full table, full value space or bad labels go to overflow=\"true\"") {
  auto region = makeRegion({.slots = 2, .series_capacity = 2});
  Metrics metrics(region, 1);
  const std::uint32_t overflow = fallbackCell(MetricId::SmtpConnections);
  for (const char* listener : {"a", "b", "c", "d"}) {
    metrics.counter(MetricId::SmtpConnections, labelPair("listener", listener)).add(10);
  }
  // Bad labels never reach the table, however much room it has.
  metrics.counter(MetricId::SmtpConnections, "listener=unquoted").add(1);
  metrics.counter(MetricId::SmtpConnections, labelPair("listener", std::string(300, 'x'))).add(1);
  CHECK(findOrAddSeries(region->view(), MetricId::SmtpConnections, labelPair("listener", "e")) ==
        overflow);
  CHECK(familyLines(renderPrometheus(*region), "upesi_smtp_connections_total") ==
        "# HELP upesi_smtp_connections_total SMTP connections accepted.\n"
        "# TYPE upesi_smtp_connections_total counter\n"
        "upesi_smtp_connections_total{listener=\"a\"} 10\n"
        "upesi_smtp_connections_total{listener=\"b\"} 10\n"
        "upesi_smtp_connections_total{overflow=\"true\"} 22\n");

  // Value cells run out before the table: a counter still fits, a histogram does not.
  auto small =
      makeRegion({.slots = 2, .series_capacity = 64, .cells_per_slot = fallbackCellCount() + 8});
  const RegionView& view = small->view();
  CHECK(findOrAddSeries(view, MetricId::HookDuration, labelPair("hook", "rcpt")) ==
        fallbackCell(MetricId::HookDuration));
  CHECK(findOrAddSeries(view, MetricId::HookDuration, labelPair("hook", "rcpt")) ==
        fallbackCell(MetricId::HookDuration));
  CHECK(findOrAddSeries(view, MetricId::Deliveries, labelPair("result", "delivered")) ==
        fallbackCellCount());
}

TEST_CASE("metrics handles: two handles to one series share its value, in a process and across") {
  auto region = makeRegion();
  Metrics first(region, 1);
  Metrics second(region, 1); // a cache of its own, the same slot
  const std::string labels = labelPair("listener", "relay");
  Counter a = first.counter(MetricId::SmtpConnections, labels);
  Counter b = first.counter(MetricId::SmtpConnections, labels);
  Counter c = second.counter(MetricId::SmtpConnections, labels);
  a.add();
  b.add(2);
  c.add(4);
  Metrics other_slot(region, 2);
  other_slot.counter(MetricId::SmtpConnections, labels).add(8);
  CHECK(familyLines(renderPrometheus(*region), "upesi_smtp_connections_total") ==
        "# HELP upesi_smtp_connections_total SMTP connections accepted.\n"
        "# TYPE upesi_smtp_connections_total counter\n"
        "upesi_smtp_connections_total{listener=\"relay\"} 15\n");
}

TEST_CASE("metrics handles: a disabled Metrics and default handles do nothing") {
  Metrics disabled;
  CHECK_FALSE(disabled.enabled());
  disabled.counter(MetricId::SmtpTransactions).add(5);
  disabled.gauge(MetricId::SmtpConnectionsOpen).set(3);
  disabled.histogram(MetricId::HookDuration, labelPair("hook", "rcpt")).observe(0.1);
  Counter().add();
  Gauge().sub(2);
  Histogram().observe(1);
  CHECK_FALSE(metrics().enabled());

  auto region = makeRegion();
  installMetrics(Metrics(region, 1));
  CHECK(metrics().enabled());
  metrics().counter(MetricId::SmtpTransactions).add(3);
  CHECK(familyLines(renderPrometheus(*region), "upesi_smtp_transactions_total")
            .ends_with("upesi_smtp_transactions_total 3\n"));
  installMetrics(Metrics());
  CHECK_FALSE(metrics().enabled());
}

TEST_CASE("metrics handles: standalone use, one process with its own region in slot 1") {
  std::string error;
  std::optional<Metrics> alone = Metrics::standalone(error);
  REQUIRE_MESSAGE(alone.has_value(), error);
  CHECK(alone->slot() == 1);
  CHECK(alone->region()->slotCount() == 2);
  CHECK(alone->region()->fd() >= 0);
  alone->gauge(MetricId::SmtpConnectionsOpen).add(2);
  CHECK(familyLines(renderPrometheus(*alone->region()), "upesi_smtp_connections_open")
            .ends_with("upesi_smtp_connections_open 2\n"));
}
