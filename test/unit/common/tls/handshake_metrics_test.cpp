#include "common/tls/handshake_metrics.hpp"
#include "test/support/installed_metrics.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace upesi;

TEST_CASE("tls handshake metrics: by protocol, eight names at most, counted in the region now "
          "installed") {
  {
    test::InstalledMetrics metrics;
    tls::countHandshake("TLSv1.3");
    tls::countHandshake("TLSv1.3");
    tls::countHandshake("TLSv1.2");
    CHECK(metrics.samples("upesi_tls_handshakes_total") ==
          "upesi_tls_handshakes_total{protocol=\"TLSv1.2\"} 1\n"
          "upesi_tls_handshakes_total{protocol=\"TLSv1.3\"} 2\n");
  }
  test::InstalledMetrics metrics; // another region: the cache starts again
  for (int i = 0; i < 10; ++i) {
    tls::countHandshake(fmt::format("v{}", i));
  }
  tls::countHandshake("v9");
  CHECK(metrics.value("upesi_tls_handshakes_total{protocol=\"v0\"}") == "1");
  CHECK(metrics.value("upesi_tls_handshakes_total{protocol=\"v7\"}") == "1");
  CHECK(metrics.value("upesi_tls_handshakes_total{protocol=\"v8\"}").empty());
  CHECK(metrics.value("upesi_tls_handshakes_total{protocol=\"other\"}") == "3");
  CHECK(metrics.value("upesi_tls_handshakes_total{protocol=\"TLSv1.3\"}").empty());
}
