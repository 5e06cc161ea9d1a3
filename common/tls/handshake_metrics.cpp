#include "common/tls/handshake_metrics.hpp"

#include "common/metrics/labels.hpp"
#include "common/metrics/metrics.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace upesi::tls {
namespace {

// A handful of versions exist; the bound only guards against a library that names them oddly.
constexpr std::size_t MaxProtocols = 8;

struct Counters {
  std::uint64_t generation = 0;
  metrics::BoundedLabel protocols{MaxProtocols};
  std::map<std::string, metrics::Counter, std::less<>> by_protocol;
};

} // namespace

void countHandshake(std::string_view protocol) {
  static Counters counters; // handles taken at first use, and again after another install
  const std::uint64_t now = metrics::metricsGeneration();
  if (counters.generation != now) {
    counters.protocols = metrics::BoundedLabel(MaxProtocols);
    counters.by_protocol.clear();
    counters.generation = now;
  }
  auto it = counters.by_protocol.find(protocol);
  if (it == counters.by_protocol.end()) {
    const std::string_view label = counters.protocols.admit(protocol);
    it = counters.by_protocol.find(label);
    if (it == counters.by_protocol.end()) {
      it = counters.by_protocol
               .emplace(std::string(label),
                        metrics::metrics().counter(metrics::MetricId::TlsHandshakes,
                                                   metrics::labelPair("protocol", label)))
               .first;
    }
  }
  it->second.add();
}

} // namespace upesi::tls
