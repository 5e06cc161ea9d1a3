#include "test/support/installed_metrics.hpp"
#include "worker/smtp/session_metrics.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace upesi;

TEST_CASE("session metrics: refusals by class, plugins past MaxPlugins counted as \"other\"") {
  test::InstalledMetrics metrics;
  smtp::SessionMetrics counted;
  for (std::size_t i = 0; i < smtp::SessionMetrics::MaxPlugins + 6; ++i) {
    counted.recipientRejected(550, fmt::format("p{}", i));
  }
  counted.recipientRejected(421, "p0");
  counted.recipientRejected(452, "");
  counted.messageRejected(554, "p0");
  CHECK(metrics.value("upesi_smtp_recipients_rejected_total{class=\"5xx\",plugin=\"p0\"}") == "1");
  CHECK(metrics.value("upesi_smtp_recipients_rejected_total{class=\"4xx\",plugin=\"p0\"}") == "1");
  CHECK(metrics.value("upesi_smtp_recipients_rejected_total{class=\"5xx\",plugin=\"p62\"}") == "1");
  // p0 .. p63 take the 64 places: p64 onwards, and "core" after them, are "other".
  CHECK(metrics.value("upesi_smtp_recipients_rejected_total{class=\"5xx\",plugin=\"p63\"}") == "1");
  CHECK(
      metrics.value("upesi_smtp_recipients_rejected_total{class=\"5xx\",plugin=\"p64\"}").empty());
  CHECK(metrics.value("upesi_smtp_recipients_rejected_total{class=\"5xx\",plugin=\"other\"}") ==
        "6");
  CHECK(metrics.value("upesi_smtp_recipients_rejected_total{class=\"4xx\",plugin=\"other\"}") ==
        "1");
  CHECK(metrics.value("upesi_smtp_messages_rejected_total{class=\"5xx\",plugin=\"p0\"}") == "1");
}
