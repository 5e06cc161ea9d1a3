// The metrics Upesi exports: one static table, so every process (and the shared region's
// layout) agrees on ids, names, types, label names and histogram buckets.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace upesi::metrics {

enum class MetricType : std::uint8_t { Counter, Gauge, Histogram };

/// How the live workers' values of a gauge combine: a sum (connections open) or the largest
/// (the oldest queue file's age).
enum class GaugeMerge : std::uint8_t { Sum, Max };

enum class MetricId : std::uint16_t {
  SmtpConnectionsOpen,
  SmtpConnections,
  SmtpTransactions,
  SmtpMessagesAccepted,
  SmtpMessagesRejected,
  SmtpRecipientsAccepted,
  SmtpRecipientsRejected,
  SmtpReceivedBytes,
  HookDuration,
  DnsQueryDuration,
  TlsHandshakes,
  AuthSuccesses,
  AuthFailures,
  QueueFiles,
  QueueDueFiles,
  QueueDeferredFiles,
  QueueOldestAge,
  Deliveries,
  DomainDeliveries,
  TlsPolicySessions,
  DeliveryDuration,
  NextHopConnectionsOpened,
  NextHopConnectionsReused,
  WorkerRestarts,
  Reloads,
  ConfigErrors,
  HttpRequests,
  FilterFailures,
  MilterEvents,
  RedisFailures,
};

struct MetricDefinition {
  MetricId id;
  std::string_view name;
  std::string_view help;
  MetricType type;
  std::span<const std::string_view> label_names;
  std::span<const double>
      buckets; ///< histograms: upper bounds in seconds, increasing; +Inf implied
  GaugeMerge merge = GaugeMerge::Sum;
};

/// Every metric, in MetricId order.
std::span<const MetricDefinition> metricDefinitions();

const MetricDefinition& definition(MetricId id);

/// 64-bit value cells one series of this metric takes in a slot: 1 for a counter or gauge; a
/// histogram stores a count per bucket (not cumulative), one for +Inf, and the sum in
/// nanoseconds.
std::uint32_t cellsPerSeries(const MetricDefinition& metric);

/// Changes whenever the table above changes in a way that moves values: a region made by
/// another build is refused rather than misread.
std::uint32_t definitionsFingerprint();

} // namespace upesi::metrics
