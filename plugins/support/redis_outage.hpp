// RedisOutage: how a plugin that keeps state in Redis goes on without it. Every command that
// got no answer, or an error reply, is counted (upesi_redis_failures_total{plugin,reason}); the
// first of an outage is logged, and so is the first answer after it. The plugin then does what
// it documents (the shipped ones let mail through).
//
// Threading: the loop thread.
#pragma once

#include <upesi/host.hpp>
#include <upesi/redis.hpp>

#include "common/metrics/cached_handle.hpp"
#include "common/metrics/labels.hpp"

#include <map>
#include <string>

namespace upesi::plugins {

class RedisOutage {
public:
  explicit RedisOutage(Host& host) : host_(host) {}

  /// True for a reply that is not an error; otherwise counts it (and logs it once an outage).
  bool check(const RedisResult& result) {
    if (result.succeeded()) {
      if (down_) {
        down_ = false;
        host_.log(LogLevel::Notice, "Redis answers again: its checks are back");
      }
      return true;
    }
    const char* reason = "error";
    switch (result.outcome) {
    case RedisResult::Outcome::Reply:
      break;
    case RedisResult::Outcome::Unavailable:
      reason = "unavailable";
      break;
    case RedisResult::Outcome::Timeout:
      reason = "timeout";
      break;
    case RedisResult::Outcome::Overloaded:
      reason = "overloaded";
      break;
    case RedisResult::Outcome::Closed:
      return false; // stopping: nothing to report
    }
    count(reason);
    if (result.outcome == RedisResult::Outcome::Reply) {
      host_.log(LogLevel::Error, "Redis refused a command: " + result.why());
    } else if (!down_) {
      down_ = true;
      host_.log(LogLevel::Error, "Redis " + std::string(reason) + " (" + result.why() +
                                     "): its checks let mail through until it answers");
    }
    return false;
  }

private:
  void count(const std::string& reason) {
    handles_[reason]
        .get([&](metrics::Metrics& m) {
          return m.counter(metrics::MetricId::RedisFailures,
                           metrics::labelPair("plugin", host_.pluginName()) + "," +
                               metrics::labelPair("reason", reason));
        })
        .add();
  }

  Host& host_;
  bool down_ = false;
  std::map<std::string, metrics::CachedHandle<metrics::Counter>> handles_;
};

} // namespace upesi::plugins
