// OutboundMetrics: what a worker's outbound engine counts (common/metrics): deliveries by
// result, and by destination domain for the first MaxDomains domains (lower-cased; the rest
// "other"), the delivery attempts' time, and the queue gauges. Handles are taken once and kept.
//
// Threading: the loop thread.
#pragma once

#include <upesi/outbound.hpp>

#include "common/metrics/labels.hpp"
#include "common/metrics/metrics.hpp"
#include "worker/outbound/delivery_outcome.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace upesi::outbound {

/// One session under TLS policy `policy` ended so: "delivered", or a TLS failure's RFC 8460
/// result type (upesi_outbound_tls_policy_sessions_total).
void countTlsPolicySession(std::string_view policy, std::string_view result);

class OutboundMetrics {
public:
  static constexpr std::size_t MaxDomains = 100;

  /// A delivery ended: what it did (counts) for its domain, and how long its attempt took, if
  /// it made one.
  void deliveryEnded(const DeliveryOutcome& outcome);

  /// The queue as this worker holds it; `oldest_arrival_ms` 0 when it holds no file.
  void queue(const OutboundStats& stats, std::int64_t oldest_arrival_ms, std::int64_t now_ms);

private:
  // delivered, deferred, bounced
  using ByResult = std::array<metrics::Counter, 3>;
  struct Handles {
    ByResult deliveries;
    metrics::Histogram duration;
    metrics::Gauge files;
    metrics::Gauge due;
    metrics::Gauge deferred;
    metrics::Gauge oldest_age;
  };

  /// Taken again, and the domain cache emptied, when another region has been installed.
  const Handles& handles();
  const ByResult& domainCounters(std::string_view domain);

  std::uint64_t generation_ = 0;
  Handles handles_;
  metrics::BoundedLabel domains_{MaxDomains};
  std::map<std::string, ByResult, std::less<>> by_domain_;
};

} // namespace upesi::outbound
