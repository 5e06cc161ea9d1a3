#include "common/metrics/labels.hpp"
#include "common/metrics/metrics.hpp"
#include "common/metrics/prometheus_text.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <regex>
#include <set>
#include <sstream>

#include "family_lines.hpp"

using namespace upesi::metrics;
using upesi::metrics::test::familyLines;
using upesi::metrics::test::makeRegion;

namespace {

// The exposition format's grammar for what we emit: HELP and TYPE once per family, before its
// samples; samples with well-formed, escaped labels and a number; no series twice.
void checkExpositionFormat(const std::string& text) {
  static const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) ([^\n\\]|\\[\\n])*)");
  static const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram))");
  static const std::regex sample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")"
      R"((,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*\})? (-?[0-9]+(\.[0-9]+)?(e[-+][0-9]+)?|\+Inf))");
  REQUIRE_FALSE(text.empty());
  CHECK(text.back() == '\n');
  std::set<std::string> families;
  std::set<std::string> series;
  std::string family;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    CAPTURE(line);
    std::smatch match;
    if (std::regex_match(line, match, help)) {
      family = match[1];
      CHECK(families.insert(family).second);
    } else if (std::regex_match(line, match, type)) {
      CHECK(match[1] == family);
    } else if (std::regex_match(line, match, sample)) {
      const std::string name = match[1];
      CHECK(name.starts_with(family));
      CHECK(series.insert(line.substr(0, line.rfind(' '))).second);
    } else {
      FAIL("not a line of the exposition format");
    }
  }
}

} // namespace

TEST_CASE("prometheus text: counters, labelled and not, and HELP/TYPE for every metric") {
  auto region = makeRegion();
  Metrics metrics(region, 1);
  metrics.counter(MetricId::SmtpConnections, labelPair("listener", "smtp")).add(3);
  metrics.counter(MetricId::SmtpConnections, labelPair("listener", "relay")).add();
  metrics
      .counter(MetricId::SmtpRecipientsRejected,
               labelPair("class", "5xx") + "," + labelPair("plugin", "rcpt_to.in_host_list"))
      .add(2);
  const std::string text = renderPrometheus(*region);
  checkExpositionFormat(text);
  CHECK(familyLines(text, "upesi_smtp_connections_total") ==
        "# HELP upesi_smtp_connections_total SMTP connections accepted.\n"
        "# TYPE upesi_smtp_connections_total counter\n"
        "upesi_smtp_connections_total{listener=\"relay\"} 1\n"
        "upesi_smtp_connections_total{listener=\"smtp\"} 3\n");
  CHECK(familyLines(text, "upesi_smtp_recipients_rejected_total") ==
        "# HELP upesi_smtp_recipients_rejected_total Recipients rejected, by reply class and "
        "deciding plugin.\n"
        "# TYPE upesi_smtp_recipients_rejected_total counter\n"
        "upesi_smtp_recipients_rejected_total{class=\"5xx\",plugin=\"rcpt_to.in_host_list\"} 2\n");
  // Nothing counted yet: an unlabelled counter shows 0, a labelled one only HELP and TYPE.
  CHECK(familyLines(text, "upesi_smtp_auth_failures_total") ==
        "# HELP upesi_smtp_auth_failures_total SMTP AUTH attempts that failed.\n"
        "# TYPE upesi_smtp_auth_failures_total counter\n"
        "upesi_smtp_auth_failures_total 0\n");
  CHECK(familyLines(text, "upesi_http_requests_total") ==
        "# HELP upesi_http_requests_total HTTP requests answered, by status class.\n"
        "# TYPE upesi_http_requests_total counter\n");
  for (const MetricDefinition& metric : metricDefinitions()) {
    CAPTURE(metric.name);
    CHECK(text.find(fmt::format("\n# TYPE {} ", metric.name)) != std::string::npos);
  }
}

TEST_CASE("prometheus text: gauges summed over live workers, or their largest; may go negative") {
  auto region = makeRegion({.slots = 4});
  Metrics one(region, 1);
  Metrics two(region, 2);
  one.gauge(MetricId::SmtpConnectionsOpen).set(5);
  two.gauge(MetricId::SmtpConnectionsOpen).add(3);
  two.gauge(MetricId::SmtpConnectionsOpen).sub(1);
  one.gauge(MetricId::QueueOldestAge).set(120);
  two.gauge(MetricId::QueueOldestAge).set(7200);
  Metrics three(region, 3);
  three.gauge(MetricId::QueueDeferredFiles).sub(4);
  const std::string text = renderPrometheus(*region);
  checkExpositionFormat(text);
  CHECK(familyLines(text, "upesi_smtp_connections_open") ==
        "# HELP upesi_smtp_connections_open SMTP connections open now.\n"
        "# TYPE upesi_smtp_connections_open gauge\n"
        "upesi_smtp_connections_open 7\n");
  CHECK(familyLines(text, "upesi_outbound_queue_oldest_age_seconds")
            .ends_with("# TYPE upesi_outbound_queue_oldest_age_seconds gauge\n"
                       "upesi_outbound_queue_oldest_age_seconds 7200\n"));
  CHECK(familyLines(text, "upesi_outbound_queue_deferred_files")
            .ends_with("upesi_outbound_queue_deferred_files -4\n"));
}

TEST_CASE("prometheus text: histograms cumulative with +Inf, _sum in seconds, _count") {
  auto region = makeRegion();
  Metrics one(region, 1);
  Metrics two(region, 2);
  const std::string labels = labelPair("hook", "rcpt") + "," + labelPair("plugin", "relay");
  Histogram hook = one.histogram(MetricId::HookDuration, labels);
  hook.observe(0.0005); // on a bound: counted in that bucket (le is "less or equal")
  hook.observe(0.003);
  two.histogram(MetricId::HookDuration, labels).observe(40); // past the last bound: +Inf only
  hook.observe(-1);                                          // a clock gone back counts as 0
  const std::string text = renderPrometheus(*region);
  checkExpositionFormat(text);
  const std::string name = "upesi_hook_duration_seconds";
  const std::string pre = name + "_bucket{" + labels + ",le=";
  CHECK(familyLines(text, name) ==
        "# HELP " + name + " Time from calling a plugin's hook to its answer.\n" + "# TYPE " +
            name + " histogram\n" + pre + "\"0.0005\"} 2\n" + pre + "\"0.001\"} 2\n" + pre +
            "\"0.0025\"} 2\n" + pre + "\"0.005\"} 3\n" + pre + "\"0.01\"} 3\n" + pre +
            "\"0.025\"} 3\n" + pre + "\"0.05\"} 3\n" + pre + "\"0.1\"} 3\n" + pre +
            "\"0.25\"} 3\n" + pre + "\"0.5\"} 3\n" + pre + "\"1\"} 3\n" + pre + "\"2.5\"} 3\n" +
            pre + "\"5\"} 3\n" + pre + "\"10\"} 3\n" + pre + "\"30\"} 3\n" + pre + "\"+Inf\"} 4\n" +
            name + "_sum{" + labels + "} 40.0035\n" + name + "_count{" + labels + "} 4\n");
  // An unlabelled histogram shows its zeros before anything is observed.
  const std::string delivery = familyLines(text, "upesi_outbound_delivery_duration_seconds");
  CHECK(delivery.find("upesi_outbound_delivery_duration_seconds_bucket{le=\"0.01\"} 0\n") !=
        std::string::npos);
  CHECK(delivery.ends_with("upesi_outbound_delivery_duration_seconds_bucket{le=\"+Inf\"} 0\n"
                           "upesi_outbound_delivery_duration_seconds_sum 0\n"
                           "upesi_outbound_delivery_duration_seconds_count 0\n"));
}

TEST_CASE("prometheus text: label values and HELP escaped; hostile values stay one label") {
  CHECK(escapeHelp("a\\b\nc\"d") == "a\\\\b\\nc\"d");
  auto region = makeRegion();
  Metrics metrics(region, 1);
  metrics
      .counter(MetricId::DomainDeliveries, labelPair("domain", "x\"} 1\nupesi_fake 2\n\\") + "," +
                                               labelPair("result", "delivered"))
      .add(1);
  metrics.counter(MetricId::TlsHandshakes, labelPair("protocol", "TLS\xFFv1.3")).add(1);
  const std::string text = renderPrometheus(*region);
  checkExpositionFormat(text);
  CHECK(familyLines(text, "upesi_outbound_domain_deliveries_total")
            .ends_with(
                "upesi_outbound_domain_deliveries_total{domain=\"x\\\"} 1\\nupesi_fake 2\\n\\\\\","
                "result=\"delivered\"} 1\n"));
  CHECK(familyLines(text, "upesi_tls_handshakes_total")
            .ends_with("upesi_tls_handshakes_total{protocol=\"TLS\xEF\xBF\xBDv1.3\"} 1\n"));
  CHECK(familyLines(text, "upesi_outbound_domain_deliveries_total")
            .starts_with("# HELP upesi_outbound_domain_deliveries_total Outbound deliveries by "
                         "destination domain (\"other\" past a limit) and result.\n"));
  CHECK(kPrometheusContentType == "text/plain; version=0.0.4; charset=utf-8");
}
