// Which due queue file is delivered next: the one with the highest MT-PRIORITY (RFC 6710)
// among the first `lookahead` that are due, else the earliest. Priorities are known for the
// files this worker queued or retried since it started (the file name does not carry them);
// the others count as 0. The look-ahead bounds the work per pick in a long queue.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

namespace upesi::outbound {

inline constexpr std::size_t PriorityLookahead = 256;

inline std::multimap<std::int64_t, std::string>::iterator
pickDue(std::multimap<std::int64_t, std::string>& due, std::int64_t now,
        const std::map<std::string, int>& priorities, std::size_t lookahead = PriorityLookahead) {
  auto best = due.begin();
  if (priorities.empty() || best == due.end()) {
    return best;
  }
  auto priorityOf = [&priorities](const std::string& name) {
    auto it = priorities.find(name);
    return it == priorities.end() ? 0 : it->second;
  };
  int best_priority = priorityOf(best->second);
  std::size_t seen = 1;
  for (auto it = std::next(best); it != due.end() && it->first <= now && seen < lookahead;
       ++it, ++seen) {
    const int priority = priorityOf(it->second);
    if (priority > best_priority) {
      best = it;
      best_priority = priority;
    }
  }
  return best;
}

} // namespace upesi::outbound
