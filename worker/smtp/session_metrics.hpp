// SessionMetrics: what a worker's SMTP sessions count (common/metrics). The handles are taken
// once and kept, so an event is a relaxed add. A refusal is counted by reply class and by the
// plugin that decided ("core" when none did); its series are cached by plugin name, at most
// MaxPlugins names, the rest counted as "other".
//
// Threading: the loop thread.
#pragma once

#include "common/metrics/labels.hpp"
#include "common/metrics/metrics.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace upesi::smtp {

class SessionMetrics {
public:
  static constexpr std::size_t MaxPlugins = 64;

  void connectionOpened() { handles().connections_open.add(); }
  void connectionClosed(std::int64_t n = 1) { handles().connections_open.sub(n); }
  void transactionBegun() { handles().transactions.add(); }
  void recipientAccepted() { handles().recipients_accepted.add(); }
  /// `code`: the reply given (4xx or 5xx); `plugin`: the one that decided, "" for the core.
  void recipientRejected(int code, std::string_view plugin);
  void messageAccepted(std::uint64_t bytes);
  void messageRejected(int code, std::string_view plugin);
  void authSucceeded() { handles().auth_successes.add(); }
  void authFailed() { handles().auth_failures.add(); }

private:
  struct Handles {
    metrics::Gauge connections_open;
    metrics::Counter transactions;
    metrics::Counter recipients_accepted;
    metrics::Counter messages_accepted;
    metrics::Counter received_bytes;
    metrics::Counter auth_successes;
    metrics::Counter auth_failures;
  };
  // One plugin's refusals of one kind: [0] 4xx, [1] 5xx.
  using ByClass = std::array<metrics::Counter, 2>;

  /// Taken again, and the refusal caches emptied, when another region has been installed.
  const Handles& handles();
  void countRefusal(metrics::MetricId id, std::map<std::string, ByClass, std::less<>>& cache,
                    int code, std::string_view plugin);

  std::uint64_t generation_ = 0;
  Handles handles_;
  metrics::BoundedLabel plugins_{MaxPlugins};
  std::map<std::string, ByClass, std::less<>> recipient_refusals_;
  std::map<std::string, ByClass, std::less<>> message_refusals_;
};

} // namespace upesi::smtp
