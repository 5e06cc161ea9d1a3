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
  const Stored* stored = entries_.find(keyOf(type, name), now_ms);
  if (stored == nullptr) {
    return std::nullopt;
  }
  DnsResult result = stored->result;
  const auto age_s = static_cast<std::uint32_t>((now_ms - stored->stored_ms) / 1000);
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
  entries_.store(keyOf(type, name), Stored{result, now_ms}, now_ms + ttl_s * 1000ULL);
}

} // namespace upesi::dns
