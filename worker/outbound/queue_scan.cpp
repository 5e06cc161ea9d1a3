#include "worker/outbound/queue_scan.hpp"

#include "common/queue/queue_file_name.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <functional>
#include <tuple>

namespace upesi::outbound {
namespace {

struct Candidate {
  std::int64_t due;      // when it is due now (a flushed name: by the flush)
  std::int64_t name_due; // what its name says: among the flushed, older ones first
  std::string name;
  bool operator<(const Candidate& other) const {
    return std::tie(due, name_due) < std::tie(other.due, other.name_due);
  }
};

} // namespace

std::uint64_t FlushedNames::hash(std::string_view name) {
  return std::hash<std::string_view>{}(name);
}

bool FlushedNames::contains(std::string_view name) const {
  return std::binary_search(hashes.begin(), hashes.end(), hash(name));
}

QueueRead readQueueDirectory(const std::string& dir, std::size_t keep,
                             std::shared_ptr<const FlushedNames> flushed,
                             std::int64_t flush_at_ms) {
  QueueRead out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    out.error = std::strerror(errno);
    return out;
  }
  if (flush_at_ms > 0) {
    out.flushed = std::make_shared<FlushedNames>();
    out.flushed->at_ms = flush_at_ms;
  }
  std::vector<Candidate> kept; // a max-heap: the latest-due of those kept first
  out.left_out_due = 0;
  bool any_left_out = false;
  auto leaveOut = [&](std::int64_t due) {
    ++out.left_out;
    out.left_out_due = any_left_out ? std::min(out.left_out_due, due) : due;
    any_left_out = true;
  };
  errno = 0;
  while (const dirent* entry = ::readdir(d)) {
    const std::string_view name = entry->d_name;
    if (name == "." || name == ".." || queue::isTempName(name) || queue::isErrorName(name)) {
      errno = 0;
      continue;
    }
    auto parsed = queue::QueueFileName::parse(name);
    if (!parsed) {
      errno = 0;
      continue; // not ours (logged by nobody: Haraka ignores them too)
    }
    ++out.total;
    if (out.oldest_arrival_ms == 0 || parsed->arrival_ms < out.oldest_arrival_ms) {
      out.oldest_arrival_ms = parsed->arrival_ms;
    }
    Candidate c{parsed->next_attempt_ms, parsed->next_attempt_ms, {}};
    if (out.flushed) {
      out.flushed->hashes.push_back(FlushedNames::hash(name));
      c.due = std::min(c.due, flush_at_ms);
    } else if (flushed && c.due > flushed->at_ms && flushed->contains(name)) {
      c.due = flushed->at_ms;
    }
    if (kept.size() < keep) {
      c.name = name;
      kept.push_back(std::move(c));
      std::push_heap(kept.begin(), kept.end());
    } else if (keep > 0 && c < kept.front()) {
      leaveOut(kept.front().due);
      std::pop_heap(kept.begin(), kept.end());
      kept.back() = std::move(c);
      kept.back().name = name;
      std::push_heap(kept.begin(), kept.end());
    } else {
      leaveOut(c.due);
    }
    errno = 0;
  }
  if (errno != 0) {
    out.error = std::strerror(errno);
  }
  ::closedir(d);
  std::sort_heap(kept.begin(), kept.end());
  out.files.reserve(kept.size());
  for (auto& c : kept) {
    out.files.emplace_back(std::move(c.name), c.due);
  }
  if (out.flushed) {
    std::sort(out.flushed->hashes.begin(), out.flushed->hashes.end());
  }
  return out;
}

} // namespace upesi::outbound
