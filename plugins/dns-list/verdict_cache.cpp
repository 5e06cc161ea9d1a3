#include "plugins/dns-list/verdict_cache.hpp"

namespace upesi::plugins::dns_list {

void VerdictCache::store(const std::string& ip, ZoneAnswers answers, std::uint32_t ttl_seconds,
                         std::uint64_t now_ms) {
  if (ttl_seconds > 0) {
    entries_.store(ip, std::move(answers), now_ms + ttl_seconds * 1000ULL);
  }
}

} // namespace upesi::plugins::dns_list
