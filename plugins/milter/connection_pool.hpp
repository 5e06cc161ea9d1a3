// The worker's idle filter connections, per filter: an SMTP session that ends hands its
// connection back after QUIT_NC, and the next session's connect stage takes it instead of
// connecting and negotiating again. Bounded per filter; an idle connection closes after
// `idle_timeout`, or when the filter talks or closes while it waits.
//
// Threading: the loop thread.
#pragma once

#include "plugins/milter/filter_connection.hpp"

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace upesi::plugins::milter {

class ConnectionPool {
public:
  ConnectionPool(std::size_t max_idle_per_filter, std::chrono::milliseconds idle_timeout)
      : max_idle_(max_idle_per_filter), idle_timeout_(idle_timeout) {}
  ~ConnectionPool() { clear(); }
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  /// An idle connection to `filter`, or null.
  std::shared_ptr<FilterConnection> take(const std::string& filter);
  /// Parks a connection that said QUIT_NC; closes it (with QUIT) if the pool is full.
  void put(const std::string& filter, std::shared_ptr<FilterConnection> connection);
  /// Closes every idle connection (shutdown, config change).
  void clear();
  std::size_t idle(const std::string& filter) const;

private:
  void drop(const std::string& filter, const FilterConnection* connection);

  std::size_t max_idle_;
  std::chrono::milliseconds idle_timeout_;
  std::map<std::string, std::vector<std::shared_ptr<FilterConnection>>> idle_;
};

} // namespace upesi::plugins::milter
