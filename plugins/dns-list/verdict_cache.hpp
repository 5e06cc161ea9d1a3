// The answers about recently seen clients, per worker: a client that reconnects within the
// answers' TTL is not looked up again. Bounded: past `max_entries` the least recently used
// entry goes.
#pragma once

#include "plugins/dns-list/zone_answer.hpp"

#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>

namespace upesi::plugins::dns_list {

class VerdictCache {
public:
  /// 0 entries: nothing is kept.
  void setMaxEntries(std::size_t max_entries);

  /// The answers stored for `ip` that are still valid at `now_ms`, or null.
  const ZoneAnswers* find(const std::string& ip, std::uint64_t now_ms);

  /// Keeps `answers` for `ip` until `now_ms` + `ttl_seconds` (0: not kept).
  void store(const std::string& ip, ZoneAnswers answers, std::uint32_t ttl_seconds,
             std::uint64_t now_ms);

  std::size_t size() const { return index_.size(); }
  void clear();

private:
  struct Entry {
    std::string ip;
    ZoneAnswers answers;
    std::uint64_t expires_ms = 0;
  };
  std::size_t max_entries_ = 0;
  std::list<Entry> recent_; ///< most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

} // namespace upesi::plugins::dns_list
