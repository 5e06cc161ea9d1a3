#include "plugins/limit/leases.hpp"

#include <upesi/redis.hpp>

#include "plugins/limit/limit_scripts.hpp"

#include <utility>

namespace upesi::plugins::limit {

void Leases::take(const std::string& key, const std::string& member, long long life_s,
                  std::function<void(std::optional<long long>)> done) {
  Redis* redis = host_.redis();
  if (redis == nullptr) {
    return done(std::nullopt);
  }
  redis->eval(ConcurrencyScript, {key}, {member, std::to_string(life_s * 1000)},
              [this, done = std::move(done)](RedisResult result) {
                if (!outage_.check(result) || result.reply.type != RedisValue::Type::Integer) {
                  return done(std::nullopt);
                }
                done(result.reply.integer);
              });
}

void Leases::keep(const std::string& key, const std::string& member, long long life_s) {
  auto& kept = kept_[member];
  if (kept.timer != 0) {
    host_.clearTimeout(kept.timer);
  }
  kept.key = key;
  kept.life_s = life_s;
  // Three renewals a life: one late renewal does not drop a live holder.
  kept.timer = host_.setTimeout(static_cast<std::uint64_t>(life_s) * 1000 / 3,
                                [this, member] { renewLater(member); });
}

void Leases::renewLater(const std::string& member) {
  auto it = kept_.find(member);
  if (it == kept_.end()) {
    return;
  }
  take(it->second.key, member, it->second.life_s, [](std::optional<long long>) {});
  keep(it->second.key, member, it->second.life_s);
}

bool Leases::release(const std::string& key, const std::string& member) {
  auto it = kept_.find(member);
  if (it == kept_.end()) {
    return false;
  }
  host_.clearTimeout(it->second.timer);
  kept_.erase(it);
  drop(key, member);
  return true;
}

void Leases::drop(const std::string& key, const std::string& member) {
  if (Redis* redis = host_.redis()) {
    redis->command({"ZREM", key, member}, [this](RedisResult result) { outage_.check(result); });
  }
}

void Leases::stopRenewing() {
  for (auto& [member, kept] : kept_) {
    host_.clearTimeout(kept.timer);
  }
  kept_.clear();
}

} // namespace upesi::plugins::limit
