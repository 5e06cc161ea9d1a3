#include "worker/outbound/queue_index.hpp"

#include <algorithm>

namespace upesi::outbound {

void QueueIndex::schedule(const std::string& name, std::int64_t due_ms,
                          const std::string& destination) {
  if (auto it = known_.find(name); it != known_.end()) {
    Entry& entry = it->second;
    if (entry.ready || entry.due <= due_ms) {
      return; // due already, or due earlier
    }
    for (auto range = pending_.equal_range(entry.due); range.first != range.second; ++range.first) {
      if (range.first->second == name) {
        pending_.erase(range.first);
        break;
      }
    }
    entry.due = due_ms;
    pending_.emplace(due_ms, name);
    return;
  }
  auto to = destinations_.try_emplace(destination).first;
  ++to->second.held;
  known_.emplace(name, Entry{due_ms, to});
  pending_.emplace(due_ms, name);
}

void QueueIndex::promote(std::int64_t now, const std::map<std::string, int>& priorities) {
  while (!pending_.empty() && pending_.begin()->first <= now) {
    auto first = pending_.begin();
    Entry& entry = known_.at(first->second);
    auto priority = priorities.find(first->second);
    const int rank = priority == priorities.end() ? 0 : -priority->second;
    entry.ready = true;
    entry.destination->second.ready.emplace(ReadyKey{rank, entry.due}, std::move(first->second));
    ++ready_;
    ready_since_ = std::min(ready_since_, entry.due);
    reorder(entry.destination);
    pending_.erase(first);
  }
}

void QueueIndex::reorder(Destinations::iterator destination) {
  Destination& d = destination->second;
  if (d.turn) {
    turns_.erase(*d.turn);
    d.turn.reset();
  }
  if (!d.ready.empty()) {
    d.turn = TurnKey{d.ready.begin()->first.first, d.in_flight, d.served, destination->first};
    turns_.insert(*d.turn);
  }
}

std::string QueueIndex::removeReady(ReadyFiles& ready, ReadyFiles::iterator file) {
  std::string name = std::move(file->second);
  ready.erase(file);
  if (--ready_ == 0) {
    ready_since_ = Never;
  }
  return name;
}

void QueueIndex::dropIfIdle(Destinations::iterator destination) {
  if (destination->second.held == 0 && destination->second.in_flight == 0) {
    destinations_.erase(destination);
  }
}

std::optional<std::string> QueueIndex::takeDue(std::int64_t now,
                                               const std::map<std::string, int>& priorities) {
  promote(now, priorities);
  if (turns_.empty()) {
    return std::nullopt;
  }
  auto to = destinations_.find(std::get<3>(*turns_.begin()));
  Destination& d = to->second;
  std::string name = removeReady(d.ready, d.ready.begin());
  known_.erase(name);
  --d.held;
  ++d.in_flight;
  d.served = ++takes_;
  taken_[name] = to;
  reorder(to);
  return name;
}

void QueueIndex::finished(const std::string& name) {
  auto it = taken_.find(name);
  if (it == taken_.end()) {
    return;
  }
  auto to = it->second;
  taken_.erase(it);
  --to->second.in_flight;
  reorder(to);
  dropIfIdle(to);
}

std::size_t QueueIndex::makeAllDue(std::int64_t now) {
  std::multimap<std::int64_t, std::string> all;
  for (auto& [due, name] : pending_) {
    // Earlier ones stay first: a flush keeps the order of the queue.
    const std::int64_t flushed = std::min(due, now);
    known_.at(name).due = flushed;
    all.emplace_hint(all.end(), flushed, std::move(name));
  }
  pending_ = std::move(all);
  return known_.size();
}

std::vector<std::string> QueueIndex::trimTo(std::size_t keep) {
  std::vector<std::string> trimmed;
  while (known_.size() > keep) {
    std::string name;
    if (!pending_.empty()) {
      auto last = std::prev(pending_.end());
      name = std::move(last->second);
      pending_.erase(last);
    } else {
      auto to = destinations_.find(std::get<3>(*std::prev(turns_.end())));
      name = removeReady(to->second.ready, std::prev(to->second.ready.end()));
      reorder(to);
    }
    auto entry = known_.find(name);
    const auto to = entry->second.destination;
    left_out_due_ = std::min(left_out_due_, entry->second.due);
    ++left_out_;
    known_.erase(entry);
    --to->second.held;
    dropIfIdle(to);
    trimmed.push_back(std::move(name));
  }
  return trimmed;
}

void QueueIndex::directoryRead(std::uint64_t left_out, std::int64_t left_out_due) {
  left_out_ = left_out;
  left_out_due_ = left_out == 0 ? Never : left_out_due;
}

std::int64_t QueueIndex::earliest() const {
  const std::int64_t pending = pending_.empty() ? Never : pending_.begin()->first;
  return std::min(pending, ready_ > 0 ? ready_since_ : Never);
}

std::size_t QueueIndex::dueBy(std::int64_t now) const {
  std::size_t n = ready_;
  for (auto it = pending_.begin(); it != pending_.end() && it->first <= now; ++it) {
    ++n;
  }
  return n;
}

std::size_t QueueIndex::inFlight(const std::string& destination) const {
  auto it = destinations_.find(destination);
  return it == destinations_.end() ? 0 : it->second.in_flight;
}

} // namespace upesi::outbound
