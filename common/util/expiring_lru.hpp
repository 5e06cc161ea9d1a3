// A bounded map from text keys to values that expire, for the caches a worker keeps (DNS
// answers, DNS list verdicts): past max_entries the least recently used entry goes first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <utility>

namespace upesi {

template <typename Value> class ExpiringLru {
public:
  explicit ExpiringLru(std::size_t max_entries = 0) : max_entries_(max_entries) {}

  /// 0 keeps nothing; a smaller bound drops the least recently used entries now.
  void setMaxEntries(std::size_t max_entries) {
    max_entries_ = max_entries;
    trim(max_entries_);
  }
  std::size_t maxEntries() const { return max_entries_; }

  /// The value under `key` unless it expired by `now_ms` (then it is dropped); a hit becomes
  /// the most recently used.
  const Value* find(const std::string& key, std::uint64_t now_ms) {
    auto found = index_.find(key);
    if (found == index_.end()) {
      return nullptr;
    }
    if (found->second->expires_ms <= now_ms) {
      recent_.erase(found->second);
      index_.erase(found);
      return nullptr;
    }
    recent_.splice(recent_.begin(), recent_, found->second);
    return &found->second->value;
  }

  /// Keeps `value` under `key` (replacing one there) until `expires_ms`.
  void store(const std::string& key, Value value, std::uint64_t expires_ms) {
    if (max_entries_ == 0) {
      return;
    }
    if (auto found = index_.find(key); found != index_.end()) {
      recent_.erase(found->second);
      index_.erase(found);
    }
    trim(max_entries_ - 1);
    recent_.push_front(Entry{key, std::move(value), expires_ms});
    index_.emplace(key, recent_.begin());
  }

  std::size_t size() const { return index_.size(); }

  void clear() {
    recent_.clear();
    index_.clear();
  }

private:
  struct Entry {
    std::string key;
    Value value;
    std::uint64_t expires_ms = 0;
  };

  void trim(std::size_t at_most) {
    while (index_.size() > at_most && !recent_.empty()) {
      index_.erase(recent_.back().key);
      recent_.pop_back();
    }
  }

  std::size_t max_entries_;
  std::list<Entry> recent_; // most recently used first
  std::unordered_map<std::string, typename std::list<Entry>::iterator> index_;
};

} // namespace upesi
