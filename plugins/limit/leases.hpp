// Leases: entries of a Redis sorted set that each expire unless renewed (the limit plugin's
// connections per client and deliveries per domain). A holder renews its entry every third of
// its life while it lasts and removes it when done; a node killed with -9 leaves entries that
// run out by themselves.
//
// Threading: the loop thread.
#pragma once

#include <upesi/host.hpp>

#include "plugins/support/redis_outage.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace upesi::plugins::limit {

class Leases {
public:
  Leases(Host& host, RedisOutage& outage) : host_(host), outage_(outage) {}
  Leases(const Leases&) = delete;
  Leases& operator=(const Leases&) = delete;

  /// Adds or renews `member` in `key`, living `life_s`; `done` gets the live entries then, or
  /// nullopt without Redis (or an answer). Each holder's `member` is unique.
  void take(const std::string& key, const std::string& member, long long life_s,
            std::function<void(std::optional<long long>)> done);
  /// Renews the entry every third of its life until release().
  void keep(const std::string& key, const std::string& member, long long life_s);
  /// Stops renewing the entry and removes it. False if it was not kept.
  bool release(const std::string& key, const std::string& member);
  /// Removes an entry taken but never kept (its holder went away while Redis answered).
  void drop(const std::string& key, const std::string& member);
  /// At shutdown: the timers stop; the entries run out by themselves.
  void stopRenewing();

private:
  struct Kept {
    std::string key;
    long long life_s = 0;
    std::uint64_t timer = 0;
  };
  void renewLater(const std::string& member);

  Host& host_;
  RedisOutage& outage_;
  std::map<std::string, Kept> kept_; // member -> its set and renewal timer
};

} // namespace upesi::plugins::limit
