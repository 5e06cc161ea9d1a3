// What one DNS list said about one client.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace upesi::plugins::dns_list {

struct ZoneAnswer {
  enum class Status { Listed, Unlisted, Error };
  Status status = Status::Error;
  std::vector<std::string> addresses; ///< Listed: the A records
  std::string error;                  ///< Error: why (SERVFAIL, timeout, an error code)
  std::uint32_t ttl = 0;              ///< Listed: the smallest record TTL
};

/// Answers by zone name.
using ZoneAnswers = std::map<std::string, ZoneAnswer>;

} // namespace upesi::plugins::dns_list
