#include "common/dns/answer_cache.hpp"

#include <algorithm>

namespace upesi::dns {

std::string AnswerCache::keyOf(DnsType type, std::string_view name) {
  while (!name.empty() && name.back() == '.') {
    name.remove_suffix(1);
  }
  std::string key(toString(type));
  key += ' ';
  for (char c : name) {
    key += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return key;
}

std::optional<DnsResult> AnswerCache::find(DnsType type, std::string_view name,
                                           std::uint64_t now_ms) {
  if (!enabled()) {
    return std::nullopt;
  }
  auto it = index_.find(keyOf(type, name));
  if (it == index_.end()) {
    return std::nullopt;
  }
  auto entry = it->second;
  if (entry->expires_ms <= now_ms) {
    entries_.erase(entry);
    index_.erase(it);
    return std::nullopt;
  }
  entries_.splice(entries_.begin(), entries_, entry);
  DnsResult result = entry->result;
  const auto age_s = static_cast<std::uint32_t>((now_ms - entry->stored_ms) / 1000);
  for (auto& record : result.records) {
    record.ttl = record.ttl > age_s ? record.ttl - age_s : 0;
  }
  return result;
}

void AnswerCache::store(DnsType type, std::string_view name, const DnsResult& result,
                        std::uint32_t ttl_s, std::uint64_t now_ms) {
  if (!enabled()) {
    return;
  }
  const bool negative = result.status == DnsStatus::NoData || result.status == DnsStatus::NxDomain;
  if (result.status != DnsStatus::Ok && !negative) {
    return;
  }
  ttl_s = std::min(ttl_s, negative ? limits_.max_negative_ttl_s : limits_.max_ttl_s);
  std::size_t bytes = name.size();
  for (const auto& record : result.records) {
    bytes += record.value.size() + sizeof record;
  }
  if (ttl_s == 0 || bytes > limits_.max_entry_bytes) {
    return;
  }
  auto key = keyOf(type, name);
  if (auto old = index_.find(key); old != index_.end()) {
    entries_.erase(old->second);
    index_.erase(old);
  }
  while (index_.size() >= limits_.max_entries && !entries_.empty()) {
    index_.erase(entries_.back().key);
    entries_.pop_back();
  }
  entries_.push_front(Entry{key, result, now_ms, now_ms + ttl_s * 1000ULL});
  index_.emplace(std::move(key), entries_.begin());
}

} // namespace upesi::dns
