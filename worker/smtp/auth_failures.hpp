// AuthFailures: failed AUTH attempts per client address within a window, shared by the sessions
// of one process, so a client cannot guess passwords by opening new connections. Several nodes
// do not share it (an address spread over N nodes gets N times the budget).
//
// Threading: the loop thread.
#pragma once

#include <chrono>
#include <deque>
#include <string>
#include <unordered_map>

namespace upesi::smtp {

class AuthFailures {
public:
  using Clock = std::chrono::steady_clock;

  AuthFailures(unsigned limit, std::chrono::seconds window) : limit_(limit), window_(window) {}

  bool blocked(const std::string& ip, Clock::time_point now = Clock::now()) {
    auto it = by_ip_.find(ip);
    if (it == by_ip_.end()) {
      return false;
    }
    expire(it->second, now);
    if (it->second.empty()) {
      by_ip_.erase(it);
      return false;
    }
    return it->second.size() >= limit_;
  }

  void record(const std::string& ip, Clock::time_point now = Clock::now()) {
    auto& times = by_ip_[ip];
    expire(times, now);
    times.push_back(now);
    if (++records_ % 1024 == 0) {
      prune(now); // addresses that stopped trying do not stay forever
    }
  }

private:
  void expire(std::deque<Clock::time_point>& times, Clock::time_point now) const {
    while (!times.empty() && now - times.front() >= window_) {
      times.pop_front();
    }
  }

  void prune(Clock::time_point now) {
    for (auto it = by_ip_.begin(); it != by_ip_.end();) {
      expire(it->second, now);
      it = it->second.empty() ? by_ip_.erase(it) : std::next(it);
    }
  }

  unsigned limit_;
  std::chrono::seconds window_;
  std::unordered_map<std::string, std::deque<Clock::time_point>> by_ip_;
  unsigned long records_ = 0;
};

} // namespace upesi::smtp
