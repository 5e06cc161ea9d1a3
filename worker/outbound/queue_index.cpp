#include "worker/outbound/queue_index.hpp"

#include <algorithm>

namespace upesi::outbound {

void QueueIndex::unschedule(const std::string& name, std::int64_t due_ms) {
  for (auto range = due_.equal_range(due_ms); range.first != range.second; ++range.first) {
    if (range.first->second == name) {
      due_.erase(range.first);
      return;
    }
  }
}

void QueueIndex::schedule(const std::string& name, std::int64_t due_ms) {
  if (auto it = known_.find(name); it != known_.end()) {
    if (it->second <= due_ms) {
      return;
    }
    unschedule(name, it->second);
    it->second = due_ms;
  } else {
    known_.emplace(name, due_ms);
  }
  due_.emplace(due_ms, name);
}

std::optional<std::string> QueueIndex::takeDue(std::int64_t now,
                                               const std::map<std::string, int>& priorities) {
  if (due_.empty() || due_.begin()->first > now) {
    return std::nullopt;
  }
  auto next = pickDue(due_, now, priorities);
  std::string name = std::move(next->second);
  due_.erase(next);
  known_.erase(name);
  return name;
}

std::size_t QueueIndex::makeAllDue(std::int64_t now) {
  std::multimap<std::int64_t, std::string> all;
  for (auto& [due, name] : due_) {
    // Earlier ones stay first: a flush keeps the order of the queue.
    all.emplace_hint(all.end(), std::min(due, now), std::move(name));
  }
  due_ = std::move(all);
  for (auto& [name, due] : known_) {
    due = std::min(due, now);
  }
  return due_.size();
}

std::vector<std::string> QueueIndex::trimTo(std::size_t keep) {
  std::vector<std::string> trimmed;
  while (due_.size() > keep) {
    auto last = std::prev(due_.end());
    left_out_due_ = std::min(left_out_due_, last->first);
    ++left_out_;
    known_.erase(last->second);
    trimmed.push_back(std::move(last->second));
    due_.erase(last);
  }
  return trimmed;
}

void QueueIndex::directoryRead(std::uint64_t left_out, std::int64_t left_out_due) {
  left_out_ = left_out;
  left_out_due_ = left_out == 0 ? Never : left_out_due;
}

std::size_t QueueIndex::dueBy(std::int64_t now) const {
  std::size_t n = 0;
  for (auto it = due_.begin(); it != due_.end() && it->first <= now; ++it) {
    ++n;
  }
  return n;
}

} // namespace upesi::outbound
