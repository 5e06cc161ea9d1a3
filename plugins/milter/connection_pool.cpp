#include "plugins/milter/connection_pool.hpp"

#include "common/milter/commands.hpp"

#include <algorithm>

namespace upesi::plugins::milter {

std::shared_ptr<FilterConnection> ConnectionPool::take(const std::string& filter) {
  auto found = idle_.find(filter);
  while (found != idle_.end() && !found->second.empty()) {
    auto connection = std::move(found->second.back()); // the most recently used
    found->second.pop_back();
    connection->endIdle();
    if (connection->ready()) {
      return connection;
    }
  }
  return nullptr;
}

void ConnectionPool::put(const std::string& filter, std::shared_ptr<FilterConnection> connection) {
  auto& list = idle_[filter];
  if (list.size() >= max_idle_ || !connection->ready()) {
    connection->close(upesi::milter::encodeQuit());
    return;
  }
  const FilterConnection* key = connection.get();
  connection->idle(idle_timeout_, [this, filter, key] { drop(filter, key); });
  list.push_back(std::move(connection));
}

void ConnectionPool::drop(const std::string& filter, const FilterConnection* connection) {
  auto found = idle_.find(filter);
  if (found == idle_.end()) {
    return;
  }
  auto& list = found->second;
  list.erase(std::remove_if(list.begin(), list.end(),
                            [connection](const auto& kept) { return kept.get() == connection; }),
             list.end());
}

void ConnectionPool::clear() {
  auto idle = std::move(idle_);
  idle_.clear();
  for (auto& [filter, list] : idle) {
    for (auto& connection : list) {
      connection->endIdle();
      connection->close(upesi::milter::encodeQuit());
    }
  }
}

std::size_t ConnectionPool::idle(const std::string& filter) const {
  auto found = idle_.find(filter);
  return found == idle_.end() ? 0 : found->second.size();
}

} // namespace upesi::plugins::milter
