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

Result<std::vector<QueueEntry>> scanQueue(const std::string& queue_dir) {
  DIR* dir = ::opendir(queue_dir.c_str());
  if (dir == nullptr) {
    return Error{
        fmt::format("cannot read the queue directory {}: {}", queue_dir, std::strerror(errno))};
  }
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* d = ::readdir(dir)) {
    std::string_view name = d->d_name;
    if (name != "." && name != ".." && !isTempName(name)) {
      names.emplace_back(name);
    }
    errno = 0;
  }
  const int read_error = errno;
  ::closedir(dir);
  if (read_error != 0) {
    return Error{fmt::format("cannot read the queue directory {}: {}", queue_dir,
                             std::strerror(read_error))};
  }
  std::vector<QueueEntry> entries;
  for (const auto& name : names) {
    const bool error_file = isErrorName(name);
    if (!error_file && !QueueFileName::parse(name)) {
      continue; // not a queue file; the server ignores it too
    }
    std::string path = queue_dir + "/" + name;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      continue; // gone since the listing (delivered), or no regular file
    }
    if (error_file) {
      entries.push_back(describeQueueFile(name, ReadError{ReadFailure::Corrupt, {}},
                                          static_cast<std::uint64_t>(st.st_size)));
      continue;
    }
    auto header = readHeader(path);
    if (!header && !header.corrupt() && ::access(path.c_str(), F_OK) != 0 && errno == ENOENT) {
      continue;
    }
    entries.push_back(describeQueueFile(
        name, header, header ? header->file_size : static_cast<std::uint64_t>(st.st_size)));
  }
  std::sort(entries.begin(), entries.end(), [](const QueueEntry& a, const QueueEntry& b) {
    return std::tie(a.arrival_ms, a.name) < std::tie(b.arrival_ms, b.name);
  });
  return entries;
}

QueueStats queueStats(const std::vector<QueueEntry>& entries, std::int64_t now_ms) {
  QueueStats stats;
  for (const auto& e : entries) {
    ++stats.total;
    stats.bytes += e.size;
    if (e.unreadable) {
      ++stats.unreadable;
      continue;
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
