// The answers about recently seen clients, per worker: a client that reconnects within the
// answers' TTL is not looked up again. Bounded: past `max_entries` the least recently used
// entry goes.
#pragma once

#include "common/util/expiring_lru.hpp"
#include "plugins/dns-list/zone_answer.hpp"

#include <cstdint>
#include <string>

namespace upesi::plugins::dns_list {

class VerdictCache {
public:
  /// 0 entries: nothing is kept.
  void setMaxEntries(std::size_t max_entries) { entries_.setMaxEntries(max_entries); }

  /// The answers stored for `ip` that are still valid at `now_ms`, or null.
  const ZoneAnswers* find(const std::string& ip, std::uint64_t now_ms) {
    return entries_.find(ip, now_ms);
  }

  /// Keeps `answers` for `ip` until `now_ms` + `ttl_seconds` (0: not kept).
  void store(const std::string& ip, ZoneAnswers answers, std::uint32_t ttl_seconds,
             std::uint64_t now_ms);

  std::size_t size() const { return entries_.size(); }
  void clear() { entries_.clear(); }

private:
  ExpiringLru<ZoneAnswers> entries_;
};

} // namespace upesi::plugins::dns_list
