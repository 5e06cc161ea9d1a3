#include "common/queue/queue_model.hpp"

#include <upesi/text.hpp>

#include "common/queue/queue_file_name.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <sys/stat.h>
#include <tuple>
#include <unistd.h>

namespace upesi::queue {
namespace {

std::string formatAddress(const nlohmann::ordered_json& json) {
  if (auto address = addressFromJson(json)) {
    return address->format();
  }
  if (json.is_object() && json.contains("original") && json["original"].is_string()) {
    return json["original"].get<std::string>();
  }
  return "?";
}

} // namespace

std::string queueIdOf(std::string_view name) {
  if (isErrorName(name)) {
    return std::string(name);
  }
  auto parsed = QueueFileName::parse(name);
  if (!parsed || parsed->legacy) {
    return std::string(name);
  }
  return fmt::format("{}.{}", parsed->uid, parsed->counter);
}

QueueEntry describeQueueFile(const std::string& name, const HeaderResult& header,
                             std::uint64_t size) {
  QueueEntry entry;
  entry.name = name;
  entry.id = name;
  entry.size = size;
  const bool error_file = isErrorName(name);
  std::string_view base = name;
  if (error_file) {
    base.remove_prefix(ErrorPrefix.size());
  }
  bool legacy = true;
  if (auto parsed = QueueFileName::parse(base)) {
    legacy = parsed->legacy;
    entry.arrival_ms = parsed->arrival_ms;
    entry.next_attempt_ms = parsed->next_attempt_ms;
    entry.attempts = parsed->attempts;
    if (!legacy) {
      entry.uid = parsed->uid;
      if (!error_file) {
        entry.id = fmt::format("{}.{}", parsed->uid, parsed->counter);
      }
    }
  }
  if (error_file) {
    entry.unreadable = true;
    entry.error = "set aside by the server as unreadable";
    return entry;
  }
  if (!header) {
    entry.unreadable = true;
    entry.error = header.error();
    return entry;
  }
  const auto& todo = header->todo;
  if (legacy) {
    entry.arrival_ms = todo.queue_time;
  }
  entry.mail_from = formatAddress(todo.mail_from);
  for (const auto& rcpt : todo.rcpt_to) {
    entry.rcpt_to.push_back(formatAddress(rcpt));
  }
  entry.domain = todo.domain;
  entry.uuid = todo.uuid;
  return entry;
}

Result<std::monostate> forEachQueueName(const std::string& queue_dir,
                                        const std::function<void(std::string_view)>& visit) {
  DIR* dir = ::opendir(queue_dir.c_str());
  if (dir == nullptr) {
    return Error{
        fmt::format("cannot read the queue directory {}: {}", queue_dir, std::strerror(errno))};
  }
  errno = 0;
  while (const dirent* d = ::readdir(dir)) {
    std::string_view name = d->d_name;
    if (name != "." && name != ".." && !isTempName(name) &&
        (isErrorName(name) || QueueFileName::parse(name))) {
      visit(name);
    }
    errno = 0;
  }
  const int read_error = errno;
  ::closedir(dir);
  if (read_error != 0) {
    return Error{fmt::format("cannot read the queue directory {}: {}", queue_dir,
                             std::strerror(read_error))};
  }
  return std::monostate{};
}

std::optional<QueueEntry> readQueueEntry(const std::string& queue_dir, const std::string& name) {
  std::string path = queue_dir + "/" + name;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return std::nullopt; // gone since the listing (delivered), or no regular file
  }
  if (isErrorName(name)) {
    return describeQueueFile(name, ReadError{ReadFailure::Corrupt, {}},
                             static_cast<std::uint64_t>(st.st_size));
  }
  auto header = readHeader(path);
  if (!header && !header.corrupt() && ::access(path.c_str(), F_OK) != 0 && errno == ENOENT) {
    return std::nullopt;
  }
  return describeQueueFile(name, header,
                           header ? header->file_size : static_cast<std::uint64_t>(st.st_size));
}

namespace {

bool listedBefore(const QueueEntry& a, const QueueEntry& b) {
  return std::tie(a.arrival_ms, a.name) < std::tie(b.arrival_ms, b.name);
}

} // namespace

Result<std::vector<QueueEntry>> scanQueue(const std::string& queue_dir) {
  std::vector<std::string> names;
  auto listed =
      forEachQueueName(queue_dir, [&names](std::string_view name) { names.emplace_back(name); });
  if (!listed) {
    return Error{listed.error()};
  }
  std::vector<QueueEntry> entries;
  for (const auto& name : names) {
    if (auto entry = readQueueEntry(queue_dir, name)) {
      entries.push_back(std::move(*entry));
    }
  }
  std::sort(entries.begin(), entries.end(), listedBefore);
  return entries;
}

Result<QueueListing> listQueue(const std::string& queue_dir, std::size_t limit) {
  QueueListing out;
  std::vector<QueueEntry> kept; // a max-heap by listedBefore: the last listed first
  auto listed = forEachQueueName(queue_dir, [&](std::string_view name) {
    // What the name alone says: enough to place it.
    QueueEntry probe = describeQueueFile(std::string(name), ReadError{ReadFailure::Corrupt, {}}, 0);
    if (kept.size() >= limit && (limit == 0 || !listedBefore(probe, kept.front()))) {
      ++out.total; // not among the first `limit`: its header is not read
      return;
    }
    auto entry = readQueueEntry(queue_dir, probe.name);
    if (!entry) {
      return;
    }
    ++out.total;
    kept.push_back(std::move(*entry));
    std::push_heap(kept.begin(), kept.end(), listedBefore);
    if (kept.size() > limit) {
      std::pop_heap(kept.begin(), kept.end(), listedBefore);
      kept.pop_back();
    }
  });
  if (!listed) {
    return Error{listed.error()};
  }
  std::sort_heap(kept.begin(), kept.end(), listedBefore);
  out.entries = std::move(kept);
  return out;
}

Result<QueueStats> queueStatsOf(const std::string& queue_dir, std::int64_t now_ms) {
  QueueStats stats;
  auto listed = forEachQueueName(queue_dir, [&](std::string_view name) {
    if (auto entry = readQueueEntry(queue_dir, std::string(name))) {
      addToStats(stats, *entry, now_ms);
    }
  });
  if (!listed) {
    return Error{listed.error()};
  }
  return stats;
}

Result<std::vector<QueueEntry>> entriesNamedBy(const std::string& queue_dir, std::string_view id) {
  std::vector<QueueEntry> matching;
  auto listed = forEachQueueName(queue_dir, [&](std::string_view name) {
    QueueEntry e = describeQueueFile(std::string(name), ReadError{ReadFailure::Corrupt, {}}, 0);
    if (e.name == id || e.id == id || (!e.uid.empty() && e.uid == id)) {
      matching.push_back(std::move(e));
    }
  });
  if (!listed) {
    return Error{listed.error()};
  }
  return matching;
}

void addToStats(QueueStats& stats, const QueueEntry& e, std::int64_t now_ms) {
  ++stats.total;
  stats.bytes += e.size;
  if (e.unreadable) {
    ++stats.unreadable;
    return;
  }
  if (e.next_attempt_ms <= now_ms) {
    ++stats.due_now;
  }
  if (e.attempts > 0) {
    ++stats.deferred;
  }
  if (stats.oldest_arrival_ms == 0 || e.arrival_ms < stats.oldest_arrival_ms) {
    stats.oldest_arrival_ms = e.arrival_ms;
  }
  ++stats.domains[e.domain];
}

QueueStats queueStats(const std::vector<QueueEntry>& entries, std::int64_t now_ms) {
  QueueStats stats;
  for (const auto& e : entries) {
    addToStats(stats, e, now_ms);
  }
  return stats;
}

Result<std::string> selectById(const std::vector<QueueEntry>& entries, std::string_view id) {
  if (id.empty()) {
    return Error{"an empty queue id"};
  }
  for (const auto& e : entries) {
    if (e.name == id || e.id == id) {
      return e.name;
    }
  }
  std::vector<std::string> matches;
  for (const auto& e : entries) {
    if (!e.uid.empty() && e.uid == id) {
      matches.push_back(e.name);
    }
  }
  if (matches.size() == 1) {
    return matches.front();
  }
  if (matches.empty()) {
    return Error{fmt::format("no queued message {}", id)};
  }
  std::string names;
  for (const auto& m : matches) {
    names += names.empty() ? "" : ", ";
    names += m;
  }
  return Error{
      fmt::format("{} names {} files ({}): give the file name", id, matches.size(), names)};
}

std::vector<const QueueEntry*> selectStuck(const std::vector<QueueEntry>& entries,
                                           std::string_view domain, std::int64_t now_ms) {
  std::vector<const QueueEntry*> out;
  for (const auto& e : entries) {
    if (!e.unreadable && e.next_attempt_ms > now_ms &&
        (domain.empty() || text::equalsIgnoreCase(domain, e.domain))) {
      out.push_back(&e);
    }
  }
  return out;
}

std::string unstuff(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  Unstuffer unstuffer;
  unstuffer.feed(message, out);
  unstuffer.finish(out);
  return out;
}

} // namespace upesi::queue
