// Answers a worker has already had, kept for their TTL so that the next connection from the
// same client, or the next message from the same sender domain, asks no one: an MX sees the
// same few names over and over. Bounded in entries (least recently used goes first) and in
// the size of what one entry keeps. Errors (SERVFAIL, timeouts) are never kept.
#pragma once

#include <upesi/dns.hpp>

#include "common/util/expiring_lru.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace upesi::dns {

struct AnswerCacheLimits {
  std::size_t max_entries = 10000; ///< 0 turns the cache off
  std::uint32_t max_ttl_s = 3600;  ///< longer TTLs are cut to this
  std::uint32_t max_negative_ttl_s = 300;
  std::size_t max_entry_bytes = 4096; ///< a bigger answer (a long TXT) is not kept
};

class AnswerCache {
public:
  explicit AnswerCache(AnswerCacheLimits limits) : limits_(limits), entries_(limits.max_entries) {}

  bool enabled() const { return limits_.max_entries > 0; }

  /// The stored answer if still fresh at `now_ms`, each record's TTL lowered by its age.
  std::optional<DnsResult> find(DnsType type, std::string_view name, std::uint64_t now_ms);

  /// Keeps an answer (Ok, NoData, NxDomain) for `ttl_s`, cut to the limits; a zero TTL, an
  /// error or an oversized answer is not kept.
  void store(DnsType type, std::string_view name, const DnsResult& result, std::uint32_t ttl_s,
             std::uint64_t now_ms);

  std::size_t size() const { return entries_.size(); }

  /// The key of a question: type and lower-case name without a trailing dot.
  static std::string keyOf(DnsType type, std::string_view name);

private:
  struct Stored {
    DnsResult result;
    std::uint64_t stored_ms = 0;
  };

  AnswerCacheLimits limits_;
  ExpiringLru<Stored> entries_;
};

} // namespace upesi::dns
