// Counts a content filter that could not judge a message (upesi_filter_failures_total), so an
// operator sees a scanner down on /metrics as well as in the log.
//
// Threading: the loop thread.
#pragma once

#include "common/metrics/cached_handle.hpp"
#include "common/metrics/labels.hpp"

#include <map>
#include <string>
#include <utility>

namespace upesi::plugins {

class FilterFailures {
public:
  explicit FilterFailures(std::string plugin) : plugin_(std::move(plugin)) {}

  /// One failure of `cause` (a short fixed word: "connect", "timeout", "error"...).
  void count(const std::string& cause) {
    handles_[cause]
        .get([&](metrics::Metrics& m) {
          return m.counter(metrics::MetricId::FilterFailures,
                           metrics::labelPair("filter", plugin_) + "," +
                               metrics::labelPair("reason", cause));
        })
        .add();
  }

private:
  std::string plugin_;
  std::map<std::string, metrics::CachedHandle<metrics::Counter>> handles_;
};

} // namespace upesi::plugins
