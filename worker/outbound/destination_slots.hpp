// DestinationSlots: Postfix's destination concurrency limit. At most `limit` deliveries to one
// destination (the next-hop domain) are in flight in a worker; queue files beyond that wait,
// in the order they asked, and a delivery that ends hands its slot straight to the first of
// them, so nothing polls for a free slot. A limit of 0 means no limit.
//
// Files are known by name; a name holds a slot from acquire() (or the hand-over) to release().
//
// Threading: the loop thread.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace upesi::outbound {

class DestinationSlots {
public:
  explicit DestinationSlots(unsigned limit = 0) : limit_(limit) {}

  /// `name` asks for a slot to `destination`: true if it holds one now (perhaps one handed to
  /// it while it waited), false if it waits for one.
  bool acquire(const std::string& name, const std::string& destination) {
    if (holders_.count(name) != 0) {
      return true;
    }
    if (waiting_.count(name) != 0) {
      return false;
    }
    auto& d = destinations_[destination];
    if (free(d)) {
      hold(name, destination, d);
      return true;
    }
    d.waiting.push_back(name);
    waiting_[name] = destination;
    return false;
  }

  /// `name`'s delivery ended. If it held a slot, the slot goes to the first file waiting for
  /// that destination, whose name is returned (it is due now); else the slot is freed. A name
  /// that waits keeps waiting.
  std::optional<std::string> release(const std::string& name) {
    auto it = holders_.find(name);
    if (it == holders_.end()) {
      return std::nullopt;
    }
    std::string destination = std::move(it->second);
    holders_.erase(it);
    auto d = destinations_.find(destination);
    --d->second.holders;
    std::optional<std::string> next;
    if (!d->second.waiting.empty() && free(d->second)) {
      next = handOver(destination, d->second);
    }
    if (d->second.holders == 0 && d->second.waiting.empty()) {
      destinations_.erase(d);
    }
    return next;
  }

  /// A new limit; slots it adds go to waiting files, whose names are returned.
  std::vector<std::string> setLimit(unsigned limit) {
    limit_ = limit;
    std::vector<std::string> admitted;
    for (auto& [destination, d] : destinations_) {
      while (!d.waiting.empty() && free(d)) {
        admitted.push_back(handOver(destination, d));
      }
    }
    return admitted;
  }

  bool isWaiting(const std::string& name) const { return waiting_.count(name) != 0; }
  /// Files waiting for a slot, all destinations together.
  std::size_t waiting() const { return waiting_.size(); }
  std::size_t inFlight(const std::string& destination) const {
    auto it = destinations_.find(destination);
    return it == destinations_.end() ? 0 : it->second.holders;
  }
  std::size_t waitingCount() const { return waiting_.size(); }
  /// Calls `visit(name)` for every file waiting for a slot.
  template <typename Visit> void forEachWaiting(Visit&& visit) const {
    for (const auto& [name, destination] : waiting_) {
      visit(name);
    }
  }

private:
  struct Destination {
    std::size_t holders = 0;
    std::deque<std::string> waiting;
  };

  bool free(const Destination& d) const { return limit_ == 0 || d.holders < limit_; }

  void hold(const std::string& name, const std::string& destination, Destination& d) {
    ++d.holders;
    holders_[name] = destination;
  }

  std::string handOver(const std::string& destination, Destination& d) {
    std::string name = std::move(d.waiting.front());
    d.waiting.pop_front();
    waiting_.erase(name);
    hold(name, destination, d);
    return name;
  }

  unsigned limit_;
  std::map<std::string, Destination> destinations_;
  std::map<std::string, std::string> holders_; // name -> the destination it holds a slot to
  std::map<std::string, std::string> waiting_; // name -> the destination it waits for
};

} // namespace upesi::outbound
