#include "worker/smtp/session_metrics.hpp"

namespace upesi::smtp {

const SessionMetrics::Handles& SessionMetrics::handles() {
  const std::uint64_t now = metrics::metricsGeneration();
  if (generation_ == now) {
    return handles_;
  }
  using metrics::MetricId;
  metrics::Metrics& m = metrics::metrics();
  handles_ = Handles{
      .connections_open = m.gauge(MetricId::SmtpConnectionsOpen),
      .transactions = m.counter(MetricId::SmtpTransactions),
      .recipients_accepted = m.counter(MetricId::SmtpRecipientsAccepted),
      .messages_accepted = m.counter(MetricId::SmtpMessagesAccepted),
      .received_bytes = m.counter(MetricId::SmtpReceivedBytes),
      .auth_successes = m.counter(MetricId::AuthSuccesses),
      .auth_failures = m.counter(MetricId::AuthFailures),
  };
  plugins_ = metrics::BoundedLabel(MaxPlugins);
  recipient_refusals_.clear();
  message_refusals_.clear();
  generation_ = now;
  return handles_;
}

void SessionMetrics::recipientRejected(int code, std::string_view plugin) {
  countRefusal(metrics::MetricId::SmtpRecipientsRejected, recipient_refusals_, code, plugin);
}

void SessionMetrics::messageAccepted(std::uint64_t bytes) {
  const Handles& h = handles();
  h.messages_accepted.add();
  h.received_bytes.add(bytes);
}

void SessionMetrics::messageRejected(int code, std::string_view plugin) {
  countRefusal(metrics::MetricId::SmtpMessagesRejected, message_refusals_, code, plugin);
}

void SessionMetrics::countRefusal(metrics::MetricId id,
                                  std::map<std::string, ByClass, std::less<>>& cache, int code,
                                  std::string_view plugin) {
  handles(); // a new region empties the cache first
  const std::string_view name = plugin.empty() ? std::string_view("core") : plugin;
  auto it = cache.find(name);
  if (it == cache.end()) {
    const std::string_view label = plugins_.admit(name);
    it = cache.find(label); // "other" is cached once, under its own name
    if (it == cache.end()) {
      metrics::Metrics& m = metrics::metrics();
      const std::string plugin_pair = metrics::labelPair("plugin", label);
      ByClass counters{m.counter(id, metrics::labelPair("class", "4xx") + ',' + plugin_pair),
                       m.counter(id, metrics::labelPair("class", "5xx") + ',' + plugin_pair)};
      it = cache.emplace(std::string(label), counters).first;
    }
  }
  it->second[code >= 500 ? 1 : 0].add();
}

} // namespace upesi::smtp
