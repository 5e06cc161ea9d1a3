#include "plugins/dns-list/verdict_cache.hpp"

namespace upesi::plugins::dns_list {

void VerdictCache::setMaxEntries(std::size_t max_entries) {
  max_entries_ = max_entries;
  while (index_.size() > max_entries_) {
    index_.erase(recent_.back().ip);
    recent_.pop_back();
  }
}

const ZoneAnswers* VerdictCache::find(const std::string& ip, std::uint64_t now_ms) {
  auto found = index_.find(ip);
  if (found == index_.end()) {
    return nullptr;
  }
  if (found->second->expires_ms <= now_ms) {
    recent_.erase(found->second);
    index_.erase(found);
    return nullptr;
  }
  recent_.splice(recent_.begin(), recent_, found->second);
  return &found->second->answers;
}

void VerdictCache::store(const std::string& ip, ZoneAnswers answers, std::uint32_t ttl_seconds,
                         std::uint64_t now_ms) {
  if (max_entries_ == 0 || ttl_seconds == 0) {
    return;
  }
  if (auto found = index_.find(ip); found != index_.end()) {
    recent_.erase(found->second);
    index_.erase(found);
  }
  recent_.push_front(Entry{ip, std::move(answers), now_ms + ttl_seconds * 1000ULL});
  index_[ip] = recent_.begin();
  setMaxEntries(max_entries_);
}

void VerdictCache::clear() {
  recent_.clear();
  index_.clear();
}

} // namespace upesi::plugins::dns_list
