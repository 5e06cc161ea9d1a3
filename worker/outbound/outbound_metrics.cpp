#include "worker/outbound/outbound_metrics.hpp"

#include "common/util/text.hpp"

#include <algorithm>

namespace upesi::outbound {
namespace {

constexpr std::array<std::string_view, 3> ResultNames{"delivered", "deferred", "bounced"};

void add(const std::array<metrics::Counter, 3>& counters, const DeliveryCounts& counts) {
  if (counts.delivered != 0) {
    counters[0].add(counts.delivered);
  }
  if (counts.deferred != 0) {
    counters[1].add(counts.deferred);
  }
  if (counts.bounced != 0) {
    counters[2].add(counts.bounced);
  }
}

} // namespace

void countTlsPolicySession(std::string_view policy, std::string_view result) {
  // A dozen policies and results at most; the bound guards the label set all the same.
  struct Counters {
    std::uint64_t generation = 0;
    metrics::BoundedLabel pairs{128};
    std::map<std::string, metrics::Counter, std::less<>> by_pair;
  };
  static Counters counters;
  const std::uint64_t now = metrics::metricsGeneration();
  if (counters.generation != now) {
    counters.pairs = metrics::BoundedLabel(128);
    counters.by_pair.clear();
    counters.generation = now;
  }
  const std::string key = std::string(policy) + "|" + std::string(result);
  auto it = counters.by_pair.find(key);
  if (it == counters.by_pair.end()) {
    if (counters.pairs.admit(key) != key) {
      return; // past the bound: not a series of its own
    }
    it = counters.by_pair
             .emplace(key, metrics::metrics().counter(metrics::MetricId::TlsPolicySessions,
                                                      metrics::labelPair("policy", policy) + "," +
                                                          metrics::labelPair("result", result)))
             .first;
  }
  it->second.add();
}

const OutboundMetrics::Handles& OutboundMetrics::handles() {
  const std::uint64_t now = metrics::metricsGeneration();
  if (generation_ == now) {
    return handles_;
  }
  using metrics::MetricId;
  metrics::Metrics& m = metrics::metrics();
  for (std::size_t i = 0; i < ResultNames.size(); ++i) {
    handles_.deliveries[i] =
        m.counter(MetricId::Deliveries, metrics::labelPair("result", ResultNames[i]));
  }
  handles_.duration = m.histogram(MetricId::DeliveryDuration);
  handles_.files = m.gauge(MetricId::QueueFiles);
  handles_.due = m.gauge(MetricId::QueueDueFiles);
  handles_.deferred = m.gauge(MetricId::QueueDeferredFiles);
  handles_.oldest_age = m.gauge(MetricId::QueueOldestAge);
  domains_ = metrics::BoundedLabel(MaxDomains);
  by_domain_.clear();
  generation_ = now;
  return handles_;
}

const OutboundMetrics::ByResult& OutboundMetrics::domainCounters(std::string_view domain) {
  auto it = by_domain_.find(domain);
  if (it != by_domain_.end()) {
    return it->second;
  }
  const std::string_view label = domains_.admit(domain);
  it = by_domain_.find(label); // "other" is cached once, under its own name
  if (it == by_domain_.end()) {
    metrics::Metrics& m = metrics::metrics();
    const std::string domain_pair = metrics::labelPair("domain", label);
    ByResult counters;
    for (std::size_t i = 0; i < ResultNames.size(); ++i) {
      counters[i] = m.counter(metrics::MetricId::DomainDeliveries,
                              domain_pair + ',' + metrics::labelPair("result", ResultNames[i]));
    }
    it = by_domain_.emplace(std::string(label), counters).first;
  }
  return it->second;
}

void OutboundMetrics::deliveryEnded(const DeliveryOutcome& outcome) {
  const Handles& h = handles();
  if (outcome.attempt_seconds) {
    h.duration.observe(*outcome.attempt_seconds);
  }
  const DeliveryCounts& counts = outcome.counts;
  if (counts.delivered == 0 && counts.deferred == 0 && counts.bounced == 0) {
    return; // claimed elsewhere, waiting for its destination, delayed: nothing was decided
  }
  add(h.deliveries, counts);
  add(domainCounters(text::toLower(outcome.domain)), counts);
}

void OutboundMetrics::queue(const OutboundStats& stats, std::int64_t oldest_arrival_ms,
                            std::int64_t now_ms) {
  const Handles& h = handles();
  h.files.set(static_cast<std::int64_t>(stats.queued));
  h.due.set(static_cast<std::int64_t>(stats.waiting));
  h.deferred.set(static_cast<std::int64_t>(stats.deferred));
  h.oldest_age.set(
      oldest_arrival_ms > 0 ? std::max<std::int64_t>(0, now_ms - oldest_arrival_ms) / 1000 : 0);
}

} // namespace upesi::outbound
