// AuthFailures: failed AUTH attempts per client (address, or IPv6 network: client_key.hpp)
// within a window, shared by the sessions of one process, so a client cannot guess passwords by
// opening new connections. An attempt is counted when its credentials are about to be checked
// and forgiven if they are good: connections that all wait at the password prompt and then
// answer at once get no more guesses than one connection. Several nodes do not share it (a
// client spread over N nodes gets N times the budget).
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

  /// Counts an attempt about to be checked, unless the client is blocked: then false.
  bool admit(const std::string& ip, Clock::time_point now = Clock::now()) {
    if (blocked(ip, now)) {
      return false;
    }
    record(ip, now);
    return true;
  }

  /// Takes back the latest attempt counted (its credentials were good, or could not be
  /// checked for a reason of ours).
  void forgive(const std::string& ip) {
    auto it = by_ip_.find(ip);
    if (it == by_ip_.end() || it->second.empty()) {
      return;
    }
    it->second.pop_back();
    if (it->second.empty()) {
      by_ip_.erase(it);
    }
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
