#include "common/metrics/metric_names.hpp"

#include <array>
#include <cassert>

namespace upesi::metrics {
namespace {

using Labels = std::array<std::string_view, 0>;
constexpr Labels kNone{};
constexpr std::array<std::string_view, 1> kListener{"listener"};
constexpr std::array<std::string_view, 2> kClassPlugin{"class", "plugin"};
constexpr std::array<std::string_view, 2> kHookPlugin{"hook", "plugin"};
constexpr std::array<std::string_view, 1> kQueryType{"type"};
constexpr std::array<std::string_view, 1> kProtocol{"protocol"};
constexpr std::array<std::string_view, 1> kResult{"result"};
constexpr std::array<std::string_view, 2> kDomainResult{"domain", "result"};
constexpr std::array<std::string_view, 2> kPolicyResult{"policy", "result"};
constexpr std::array<std::string_view, 1> kStatusClass{"class"};
constexpr std::array<std::string_view, 2> kFilterReason{"filter", "reason"};
constexpr std::array<std::string_view, 2> kMilterOutcome{"milter", "outcome"};
constexpr std::array<std::string_view, 2> kPluginReason{"plugin", "reason"};

// Hooks and DNS answers: half a millisecond to a plugin timeout.
constexpr std::array<double, 15> kLatency{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                          0.25,   0.5,   1,      2.5,   5,    10,    30};
// A delivery: one SMTP transaction with the next hop, up to its data timeout.
constexpr std::array<double, 14> kDelivery{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                           2.5,  5,     10,   30,  60,   120, 300};

constexpr MetricDefinition counter(MetricId id, std::string_view name, std::string_view help,
                                   std::span<const std::string_view> labels = kNone) {
  return {id, name, help, MetricType::Counter, labels, {}};
}
constexpr MetricDefinition gauge(MetricId id, std::string_view name, std::string_view help,
                                 GaugeMerge merge = GaugeMerge::Sum) {
  return {id, name, help, MetricType::Gauge, kNone, {}, merge};
}
constexpr MetricDefinition histogram(MetricId id, std::string_view name, std::string_view help,
                                     std::span<const std::string_view> labels,
                                     std::span<const double> buckets) {
  return {id, name, help, MetricType::Histogram, labels, buckets};
}

using enum MetricId;
constexpr std::array kDefinitions{
    gauge(SmtpConnectionsOpen, "upesi_smtp_connections_open", "SMTP connections open now."),
    counter(SmtpConnections, "upesi_smtp_connections_total", "SMTP connections accepted.",
            kListener),
    counter(SmtpTransactions, "upesi_smtp_transactions_total",
            "SMTP transactions begun (MAIL FROM accepted)."),
    counter(SmtpMessagesAccepted, "upesi_smtp_messages_accepted_total",
            "Messages accepted after DATA or BDAT LAST."),
    counter(SmtpMessagesRejected, "upesi_smtp_messages_rejected_total",
            "Messages refused at or after DATA or BDAT, by reply class and deciding plugin.",
            kClassPlugin),
    counter(SmtpRecipientsAccepted, "upesi_smtp_recipients_accepted_total",
            "Recipients accepted (RCPT TO answered 250)."),
    counter(SmtpRecipientsRejected, "upesi_smtp_recipients_rejected_total",
            "Recipients rejected, by reply class and deciding plugin.", kClassPlugin),
    counter(SmtpReceivedBytes, "upesi_smtp_received_bytes_total",
            "Bytes of the messages accepted, as stored."),
    histogram(HookDuration, "upesi_hook_duration_seconds",
              "Time from calling a plugin's hook to its answer.", kHookPlugin, kLatency),
    histogram(DnsQueryDuration, "upesi_dns_query_duration_seconds",
              "Time to answer a DNS query, by record type.", kQueryType, kLatency),
    counter(TlsHandshakes, "upesi_tls_handshakes_total", "TLS handshakes completed, by protocol.",
            kProtocol),
    counter(AuthSuccesses, "upesi_smtp_auth_successes_total", "SMTP AUTH attempts that succeeded."),
    counter(AuthFailures, "upesi_smtp_auth_failures_total", "SMTP AUTH attempts that failed."),
    gauge(QueueFiles, "upesi_outbound_queue_files", "Outbound queue files held by the workers."),
    gauge(QueueDueFiles, "upesi_outbound_queue_due_files",
          "Outbound queue files due for delivery now."),
    gauge(QueueDeferredFiles, "upesi_outbound_queue_deferred_files",
          "Outbound queue files waiting for a retry."),
    gauge(QueueOldestAge, "upesi_outbound_queue_oldest_age_seconds",
          "Age of the oldest outbound queue file (the largest of the workers').", GaugeMerge::Max),
    counter(Deliveries, "upesi_outbound_deliveries_total",
            "Outbound deliveries, by result (delivered, deferred, bounced).", kResult),
    counter(DomainDeliveries, "upesi_outbound_domain_deliveries_total",
            "Outbound deliveries by destination domain (\"other\" past a limit) and result.",
            kDomainResult),
    counter(TlsPolicySessions, "upesi_outbound_tls_policy_sessions_total",
            "Outbound sessions by the TLS policy that applied (none, may, encrypt, verify, "
            "secure, smtps, dane, dane-encrypt, mta-sts) and result (delivered, or why TLS "
            "failed, as RFC 8460's result types).",
            kPolicyResult),
    histogram(DeliveryDuration, "upesi_outbound_delivery_duration_seconds",
              "Time of one delivery attempt, from connecting to the next hop's answer.", kNone,
              kDelivery),
    counter(NextHopConnectionsOpened, "upesi_outbound_connections_opened_total",
            "Connections opened to next hops."),
    counter(NextHopConnectionsReused, "upesi_outbound_connections_reused_total",
            "Deliveries sent on a pooled next-hop connection."),
    counter(WorkerRestarts, "upesi_worker_restarts_total",
            "Workers restarted after they exited unasked."),
    counter(Reloads, "upesi_reloads_total", "Graceful reloads begun (SIGUSR2)."),
    counter(ConfigErrors, "upesi_config_errors_total",
            "Config files that could not be read or did not validate."),
    counter(HttpRequests, "upesi_http_requests_total", "HTTP requests answered, by status class.",
            kStatusClass),
    counter(FilterFailures, "upesi_filter_failures_total",
            "Content filters (rspamd, spamd, clamd, milters...) that were down, slow or answered "
            "garbage, by filter and reason (connect, timeout, error...).",
            kFilterReason),
    counter(MilterEvents, "upesi_milter_events_total",
            "Milter filter replies by kind (continue, reject, addheader...) and failures (error), "
            "per filter.",
            kMilterOutcome),
    counter(RedisFailures, "upesi_redis_failures_total",
            "Redis commands of a plugin that got no answer (unavailable, timeout, overloaded) "
            "or an error reply (error); the plugin went on without them.",
            kPluginReason),
};

constexpr bool inIdOrder() {
  for (std::size_t i = 0; i < kDefinitions.size(); ++i) {
    if (static_cast<std::size_t>(kDefinitions[i].id) != i) {
      return false;
    }
  }
  return true;
}
static_assert(inIdOrder(), "kDefinitions must list the metrics in MetricId order");

// FNV-1a, 32 bits.
void mix(std::uint32_t& hash, std::string_view bytes) {
  for (char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 16777619U;
  }
  hash ^= 0xFFU; // a separator, so "ab","c" and "a","bc" differ
  hash *= 16777619U;
}

} // namespace

std::span<const MetricDefinition> metricDefinitions() {
  return kDefinitions;
}

const MetricDefinition& definition(MetricId id) {
  auto index = static_cast<std::size_t>(id);
  assert(index < kDefinitions.size());
  return kDefinitions[index];
}

std::uint32_t cellsPerSeries(const MetricDefinition& metric) {
  if (metric.type == MetricType::Histogram) {
    return static_cast<std::uint32_t>(metric.buckets.size()) + 2;
  }
  return 1;
}

std::uint32_t definitionsFingerprint() {
  static const std::uint32_t fingerprint = [] {
    std::uint32_t hash = 2166136261U;
    for (const MetricDefinition& metric : kDefinitions) {
      mix(hash, metric.name);
      mix(hash, std::string_view(reinterpret_cast<const char*>(&metric.type), 1));
      mix(hash, std::string_view(reinterpret_cast<const char*>(&metric.merge), 1));
      for (std::string_view label : metric.label_names) {
        mix(hash, label);
      }
      for (double bound : metric.buckets) {
        mix(hash, std::string_view(reinterpret_cast<const char*>(&bound), sizeof bound));
      }
    }
    return hash;
  }();
  return fingerprint;
}

} // namespace upesi::metrics
