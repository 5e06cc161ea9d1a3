#include "test/support/installed_metrics.hpp"
#include "worker/outbound/outbound_metrics.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace upesi;
using namespace upesi::outbound;

namespace {

DeliveryOutcome ended(std::string domain, DeliveryCounts counts) {
  DeliveryOutcome outcome;
  outcome.domain = std::move(domain);
  outcome.counts = counts;
  return outcome;
}

} // namespace

TEST_CASE("outbound metrics: domains lower-cased, past MaxDomains counted as \"other\"") {
  test::InstalledMetrics metrics;
  OutboundMetrics counted;
  counted.deliveryEnded(ended("Example.NET", {.delivered = 1, .deferred = 0, .bounced = 2}));
  for (std::size_t i = 0; i < OutboundMetrics::MaxDomains; ++i) {
    counted.deliveryEnded(ended(fmt::format("d{}.test", i), {.deferred = 1}));
  }
  counted.deliveryEnded(ended("example.net", {.delivered = 1}));
  counted.deliveryEnded(ended("", {})); // nothing decided (claimed elsewhere): not counted
  CHECK(
      metrics.value(
          "upesi_outbound_domain_deliveries_total{domain=\"example.net\",result=\"delivered\"}") ==
      "2");
  CHECK(metrics.value(
            "upesi_outbound_domain_deliveries_total{domain=\"example.net\",result=\"bounced\"}") ==
        "2");
  CHECK(metrics.value(
            "upesi_outbound_domain_deliveries_total{domain=\"d98.test\",result=\"deferred\"}") ==
        "1");
  CHECK(
      metrics
          .value("upesi_outbound_domain_deliveries_total{domain=\"d99.test\",result=\"deferred\"}")
          .empty());
  CHECK(metrics.value(
            "upesi_outbound_domain_deliveries_total{domain=\"other\",result=\"deferred\"}") == "1");
  CHECK(metrics.samples("upesi_outbound_deliveries_total") ==
        "upesi_outbound_deliveries_total{result=\"bounced\"} 2\n"
        "upesi_outbound_deliveries_total{result=\"deferred\"} 100\n"
        "upesi_outbound_deliveries_total{result=\"delivered\"} 2\n");
}

TEST_CASE("outbound metrics: sessions by TLS policy and result, within a bound") {
  test::InstalledMetrics metrics;
  countTlsPolicySession("dane", "delivered");
  countTlsPolicySession("dane", "delivered");
  countTlsPolicySession("mta-sts", "certificate-host-mismatch");
  CHECK(metrics.value(
            "upesi_outbound_tls_policy_sessions_total{policy=\"dane\",result=\"delivered\"}") ==
        "2");
  CHECK(metrics.value("upesi_outbound_tls_policy_sessions_total{policy=\"mta-sts\","
                      "result=\"certificate-host-mismatch\"}") == "1");
  for (int i = 0; i < 300; ++i) {
    countTlsPolicySession(fmt::format("p{}", i), "delivered");
  }
  CHECK(metrics
            .value("upesi_outbound_tls_policy_sessions_total{policy=\"p299\",result=\"delivered\"}")
            .empty());
}
