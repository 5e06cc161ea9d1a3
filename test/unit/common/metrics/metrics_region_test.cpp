#include "common/metrics/labels.hpp"
#include "common/metrics/metrics.hpp"
#include "common/metrics/metrics_region.hpp"
#include "common/metrics/prometheus_text.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <sys/mman.h>
#include <unistd.h>

#include "family_lines.hpp"

using namespace upesi::metrics;
using upesi::metrics::test::familyLines;
using upesi::metrics::test::makeRegion;

TEST_CASE("metrics region: slots for nodes, handed out once each, taken back") {
  CHECK(MetricsRegion::slotsForNodes(0) == 2);
  CHECK(MetricsRegion::slotsForNodes(1) == 3);
  CHECK(MetricsRegion::slotsForNodes(4) == 9);
  std::string error;
  auto region = MetricsRegion::create({.slots = MetricsRegion::slotsForNodes(1)}, error);
  REQUIRE_MESSAGE(region.has_value(), error);
  CHECK(region->slotCount() == 3);
  CHECK(region->acquireSlot() == 1U);
  CHECK(region->acquireSlot() == 2U);
  CHECK_FALSE(region->acquireSlot().has_value());
  region->releaseSlot(1);
  CHECK(region->acquireSlot() == 1U);

  CHECK_FALSE(MetricsRegion::create({.slots = 1}, error).has_value());
  CHECK(error.find("out of range") != std::string::npos);
  CHECK_FALSE(MetricsRegion::create({.slots = 2, .series_capacity = 0}, error).has_value());
  CHECK_FALSE(MetricsRegion::create({.slots = 2, .cells_per_slot = 1}, error).has_value());
}

TEST_CASE("metrics region: attached by fd, it is the same memory; garbage is refused") {
  auto created = makeRegion();
  std::string error;
  auto attached = MetricsRegion::attach(created->fd(), error);
  REQUIRE_MESSAGE(attached.has_value(), error);
  CHECK(attached->fd() == -1);
  CHECK(attached->slotCount() == created->slotCount());
  CHECK_FALSE(attached->acquireSlot().has_value()); // slots are the creator's to give
  Metrics worker(std::make_shared<MetricsRegion>(std::move(*attached)), 2);
  worker.counter(MetricId::SmtpConnections, labelPair("listener", "relay")).add(6);
  CHECK(familyLines(renderPrometheus(*created), "upesi_smtp_connections_total")
            .ends_with("upesi_smtp_connections_total{listener=\"relay\"} 6\n"));

  CHECK_FALSE(MetricsRegion::attach(-1, error).has_value());
  int fd = ::memfd_create("not-metrics", MFD_CLOEXEC);
  REQUIRE(fd >= 0);
  CHECK_FALSE(MetricsRegion::attach(fd, error).has_value());
  CHECK(error.find("too small") != std::string::npos);
  REQUIRE(::ftruncate(fd, 1 << 16) == 0);
  CHECK_FALSE(MetricsRegion::attach(fd, error).has_value());
  CHECK(error.find("not a metrics region") != std::string::npos);
  ::close(fd);

  // A region whose header lies about its sizes is refused, not read past its end.
  fd = ::memfd_create("short-metrics", MFD_CLOEXEC);
  REQUIRE(fd >= 0);
  const RegionHeader* header = created->view().header;
  REQUIRE(::ftruncate(fd, static_cast<off_t>(header->total_bytes / 2)) == 0);
  REQUIRE(::pwrite(fd, header, sizeof *header, 0) == static_cast<ssize_t>(sizeof *header));
  CHECK_FALSE(MetricsRegion::attach(fd, error).has_value());
  CHECK(error.find("do not add up") != std::string::npos);
  ::close(fd);
}

TEST_CASE("metrics region: an exited worker's counters and histograms fold into slot 0, its "
          "gauges go") {
  std::string error;
  auto created = MetricsRegion::create({.slots = 3}, error);
  REQUIRE_MESSAGE(created.has_value(), error);
  auto region = std::make_shared<MetricsRegion>(std::move(*created));
  const std::uint32_t slot_a = region->acquireSlot().value();
  const std::uint32_t slot_b = region->acquireSlot().value();
  const std::string relay = labelPair("listener", "relay");
  {
    Metrics a(region, slot_a);
    a.counter(MetricId::SmtpConnections, relay).add(5);
    a.counter(MetricId::SmtpTransactions).add(2);
    a.gauge(MetricId::SmtpConnectionsOpen).set(3);
    a.histogram(MetricId::DeliveryDuration).observe(0.2);
  }
  Metrics b(region, slot_b);
  b.counter(MetricId::SmtpConnections, relay).add(1);
  b.gauge(MetricId::SmtpConnectionsOpen).set(4);
  const std::string before = renderPrometheus(*region);
  CHECK(familyLines(before, "upesi_smtp_connections_open").ends_with("open 7\n"));

  region->releaseSlot(slot_a);
  std::uint32_t sequence = region->beginRead();
  CHECK_FALSE(region->readAgain(sequence));
  CHECK(sequence % 2 == 0);
  const std::string after = renderPrometheus(*region);
  CHECK(familyLines(after, "upesi_smtp_connections_total") ==
        familyLines(before, "upesi_smtp_connections_total"));
  CHECK(familyLines(after, "upesi_smtp_connections_total")
            .ends_with("upesi_smtp_connections_total{listener=\"relay\"} 6\n"));
  CHECK(familyLines(after, "upesi_smtp_transactions_total").ends_with("_total 2\n"));
  CHECK(familyLines(after, "upesi_outbound_delivery_duration_seconds") ==
        familyLines(before, "upesi_outbound_delivery_duration_seconds"));
  CHECK(familyLines(after, "upesi_outbound_delivery_duration_seconds")
            .ends_with("upesi_outbound_delivery_duration_seconds_sum 0.2\n"
                       "upesi_outbound_delivery_duration_seconds_count 1\n"));
  CHECK(familyLines(after, "upesi_smtp_connections_open").ends_with("open 4\n"));

  // The slot comes back zeroed: its next worker starts from nothing, the totals go on.
  const std::uint32_t again = region->acquireSlot().value();
  CHECK(again == slot_a);
  Metrics restarted(region, again);
  restarted.counter(MetricId::SmtpConnections, relay).add(1);
  CHECK(*region->view().cell(again, region->view().header->reserved_cells) == 1);
  const std::string later = renderPrometheus(*region);
  CHECK(familyLines(later, "upesi_smtp_connections_total").ends_with("relay\"} 7\n"));
  CHECK(familyLines(later, "upesi_smtp_transactions_total").ends_with("_total 2\n"));
  CHECK(familyLines(later, "upesi_smtp_connections_open").ends_with("open 4\n"));

  // The master counts its own events straight into the retired totals.
  Metrics master(region, 0);
  master.counter(MetricId::WorkerRestarts).add();
  CHECK(familyLines(renderPrometheus(*region), "upesi_worker_restarts_total")
            .ends_with("upesi_worker_restarts_total 1\n"));
}
