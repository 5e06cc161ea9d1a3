// Answers that must come once, in time, and never after the plugin shut down: a DNS lookup (or
// several) behind a hook, with the plugin's own timeout in front of the resolver's.
//
//   auto answer = deadlines_.start(timeout_ms, [next] { next(Code::DenySoft, "timed out"); });
//   host.dnsQuery(name, type, [answer, next](DnsResult result) {
//     if (!answer->claim()) return;   // too late, a second answer, or the plugin is gone
//     ...
//   });
#pragma once

#include <upesi/host.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <set>

namespace upesi::plugins {

class AnswerDeadlines;

/// One awaited answer. claim() is true once: for the first of the answer and the deadline.
class PendingAnswer {
public:
  /// True if the caller may act: nothing answered yet, the deadline has not run, and the plugin
  /// is still loaded. Stops the deadline.
  bool claim();
  bool answered() const { return answered_ || !*alive_; }

private:
  friend class AnswerDeadlines;
  PendingAnswer(AnswerDeadlines* owner, std::shared_ptr<bool> alive)
      : owner_(owner), alive_(std::move(alive)) {}
  AnswerDeadlines* owner_;
  std::shared_ptr<bool> alive_;
  std::uint64_t timer_ = 0;
  bool answered_ = false;
};

/// The deadlines a plugin has running; shutdown() clears them and makes every later answer a
/// no-op (lookups may still call back after the plugin and its Host are gone).
class AnswerDeadlines {
public:
  void attach(Host& host) { host_ = &host; }

  /// Starts waiting for an answer; if none claims it within `ms`, `on_timeout` runs (once, on the
  /// loop). `ms` == 0 waits without a deadline.
  std::shared_ptr<PendingAnswer> start(std::uint64_t ms, std::function<void()> on_timeout) {
    std::shared_ptr<PendingAnswer> answer(new PendingAnswer(this, alive_));
    if (ms == 0 || host_ == nullptr) {
      return answer;
    }
    answer->timer_ = host_->setTimeout(ms, [answer, on_timeout = std::move(on_timeout)] {
      if (answer->claim()) {
        on_timeout();
      }
    });
    timers_.insert(answer->timer_);
    return answer;
  }

  /// Whether the plugin is still loaded, for callbacks that need no deadline.
  std::shared_ptr<bool> alive() const { return alive_; }

  void shutdown() {
    *alive_ = false;
    if (host_ != nullptr) {
      for (auto id : timers_) {
        host_->clearTimeout(id);
      }
    }
    timers_.clear();
  }

private:
  friend class PendingAnswer;
  void finished(std::uint64_t timer) {
    if (timer != 0 && timers_.erase(timer) > 0) {
      host_->clearTimeout(timer);
    }
  }

  Host* host_ = nullptr;
  std::set<std::uint64_t> timers_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

inline bool PendingAnswer::claim() {
  if (answered_ || !*alive_) {
    return false;
  }
  answered_ = true;
  owner_->finished(timer_);
  return true;
}

} // namespace upesi::plugins
