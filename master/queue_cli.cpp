#include "master/queue_cli.hpp"

#include <upesi/text.hpp>

#include "common/config/config.hpp"
#include "common/config/outbound_config.hpp"
#include "common/queue/queue_file_name.hpp"
#include "common/queue/queue_writer.hpp"
#include "common/util/paths.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace upesi::master {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view BusyText = "busy: being delivered";
constexpr std::string_view GoneText = "gone (delivered or renamed meanwhile)";

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string joinPath(const std::string& dir, const std::string& name) {
  return dir + "/" + name;
}

// Names and addresses come from files on disk: keep control bytes off the terminal.
std::string printable(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      c = '?';
    }
  }
  return out;
}

std::string dumpJson(const Json& json, int indent) {
  return json.dump(indent, ' ', false, Json::error_handler_t::replace);
}

std::string formatAddress(const Json& json) {
  if (auto address = queue::addressFromJson(json)) {
    return address->format();
  }
  if (json.is_object() && json.contains("original") && json["original"].is_string()) {
    return json["original"].get<std::string>();
  }
  return "?";
}

// Undoes dot-stuffing across chunk boundaries: a '.' at a line start is held until the next
// byte shows whether it was doubled.
class Unstuffer {
public:
  void feed(std::string_view chunk, std::string& out) {
    for (char c : chunk) {
      if (state_ == State::LineStart && c == '.') {
        state_ = State::Dot;
        continue;
      }
      if (state_ == State::Dot) {
        out += '.';
        state_ = State::Middle;
        if (c == '.') {
          continue;
        }
      }
      out += c;
      state_ = c == '\n' ? State::LineStart : State::Middle;
    }
  }
  void finish(std::string& out) {
    if (state_ == State::Dot) {
      out += '.';
    }
    state_ = State::Middle;
  }

private:
  enum class State { LineStart, Dot, Middle };
  State state_ = State::LineStart;
};

enum class Outcome { Done, Busy, Gone, Failed };

struct Attempt {
  Outcome outcome = Outcome::Done;
  std::string message; // the error, for Failed
};

// Claims `name` as a worker would, then unlinks it while holding the lock.
Attempt deleteClaimed(const std::string& dir, const std::string& name) {
  auto claim = queue::claimQueueFile(dir, name);
  if (auto* error = std::get_if<queue::ClaimError>(&claim)) {
    switch (error->kind) {
    case queue::ClaimFailure::Held:
      return {Outcome::Busy, {}};
    case queue::ClaimFailure::Gone:
      return {Outcome::Gone, {}};
    case queue::ClaimFailure::Error:
      return {Outcome::Failed, error->message};
    }
  }
  if (auto removed = queue::removeQueueFile(dir, name); !removed) {
    return {Outcome::Failed, removed.error()};
  }
  return {};
}

// Claims `name`, then renames it to the same schedule fields but next attempt = now.
Attempt unstickClaimed(const std::string& dir, const std::string& name, std::int64_t now_ms,
                       std::string& new_name) {
  auto claim = queue::claimQueueFile(dir, name);
  if (auto* error = std::get_if<queue::ClaimError>(&claim)) {
    switch (error->kind) {
    case queue::ClaimFailure::Held:
      return {Outcome::Busy, {}};
    case queue::ClaimFailure::Gone:
      return {Outcome::Gone, {}};
    case queue::ClaimFailure::Error:
      return {Outcome::Failed, error->message};
    }
  }
  auto parsed = queue::QueueFileName::parse(name, now_ms);
  if (!parsed) {
    return {Outcome::Failed, fmt::format("{}: {}", name, parsed.error())};
  }
  new_name = parsed->retryName(now_ms, parsed->attempts, ::getpid()).format();
  if (auto renamed = queue::renameQueueFile(dir, name, new_name); !renamed) {
    return {Outcome::Failed, renamed.error()};
  }
  return {};
}

void reportKept(std::string_view name, const Attempt& attempt) {
  if (attempt.outcome == Outcome::Busy) {
    fmt::print(stderr, "upesi: {}: {}\n", printable(name), BusyText);
  } else if (attempt.outcome == Outcome::Gone) {
    fmt::print(stderr, "upesi: {}: {}\n", printable(name), GoneText);
  } else if (attempt.outcome == Outcome::Failed) {
    fmt::print(stderr, "upesi: {}\n", printable(attempt.message));
  }
}

int queueList(const std::string& dir, bool json) {
  auto entries = scanQueue(dir);
  if (!entries) {
    fmt::print(stderr, "upesi: {}\n", entries.error());
    return 1;
  }
  if (json) {
    Json array = Json::array();
    for (const auto& e : *entries) {
      array.push_back(entryJson(e));
    }
    fmt::print("{}\n", dumpJson(array, 2));
    return 0;
  }
  for (const auto& e : *entries) {
    fmt::print("{}\n", formatEntryLine(e));
  }
  return 0;
}

int queueStat(const std::string& dir, bool json) {
  auto entries = scanQueue(dir);
  if (!entries) {
    fmt::print(stderr, "upesi: {}\n", entries.error());
    return 1;
  }
  auto stats = queueStats(*entries, nowMs());
  if (json) {
    fmt::print("{}\n", dumpJson(statsJson(stats), 2));
  } else {
    fmt::print("{}", formatStats(stats));
  }
  return 0;
}

int queueShow(const std::string& dir, const std::string& id) {
  auto entries = scanQueue(dir);
  if (!entries) {
    fmt::print(stderr, "upesi: {}\n", entries.error());
    return 1;
  }
  auto name = selectById(*entries, id);
  if (!name) {
    fmt::print(stderr, "upesi: {}\n", name.error());
    return 1;
  }
  auto entry = std::find_if(entries->begin(), entries->end(),
                            [&](const QueueEntry& e) { return e.name == *name; });
  if (entry->unreadable) {
    fmt::print(stderr, "upesi: {} is unreadable: {}\n", printable(*name), entry->error);
    return 1;
  }
  // One descriptor for header and message, so a rename by a worker cannot split them.
  std::string path = joinPath(dir, *name);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) {
      fmt::print(stderr, "upesi: {}: {}\n", printable(*name), GoneText);
    } else {
      fmt::print(stderr, "upesi: open {}: {}\n", printable(path), std::strerror(errno));
    }
    return 1;
  }
  auto header = queue::readHeader(fd);
  if (!header) {
    ::close(fd);
    fmt::print(stderr, "upesi: {} is unreadable: {}\n", printable(*name), header.error());
    return 1;
  }
  fmt::print("{}\n\n", dumpJson(header->todo.toJson(), 2));
  std::fflush(stdout);
  Unstuffer unstuffer;
  std::string buf(65536, '\0');
  std::string out;
  auto offset = static_cast<off_t>(header->message_offset);
  for (;;) {
    ssize_t n = ::pread(fd, buf.data(), buf.size(), offset);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      fmt::print(stderr, "upesi: read {}: {}\n", printable(path), std::strerror(errno));
      ::close(fd);
      return 1;
    }
    if (n == 0) {
      break;
    }
    offset += n;
    out.clear();
    unstuffer.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)), out);
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  out.clear();
  unstuffer.finish(out);
  std::fwrite(out.data(), 1, out.size(), stdout);
  ::close(fd);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

int queueDelete(const std::string& dir, const std::string& id) {
  auto entries = scanQueue(dir);
  if (!entries) {
    fmt::print(stderr, "upesi: {}\n", entries.error());
    return 1;
  }
  auto name = selectById(*entries, id);
  if (!name) {
    fmt::print(stderr, "upesi: {}\n", name.error());
    return 1;
  }
  auto attempt = deleteClaimed(dir, *name);
  if (attempt.outcome != Outcome::Done) {
    reportKept(*name, attempt);
    return 1;
  }
  fmt::print("deleted {}\n", printable(*name));
  return 0;
}

int queueEmpty(const std::string& dir) {
  std::size_t deleted = 0;
  std::set<std::string> kept;
  // A file a worker renamed (deferred) between our listing and our claim is Gone under its old
  // name: list again to catch its new one. Bounded, in case a server keeps renaming.
  for (int pass = 0; pass < 5; ++pass) {
    auto entries = scanQueue(dir);
    if (!entries) {
      fmt::print(stderr, "upesi: {}\n", entries.error());
      return 1;
    }
    bool any_gone = false;
    for (const auto& e : *entries) {
      if (kept.count(e.name) != 0) {
        continue;
      }
      auto attempt = deleteClaimed(dir, e.name);
      if (attempt.outcome == Outcome::Done) {
        fmt::print("deleted {}\n", printable(e.name));
        ++deleted;
      } else if (attempt.outcome == Outcome::Gone) {
        any_gone = true;
      } else {
        reportKept(e.name, attempt);
        kept.insert(e.name);
      }
    }
    if (!any_gone) {
      break;
    }
  }
  fmt::print("deleted {} file(s), kept {}\n", deleted, kept.size());
  return kept.empty() ? 0 : 1;
}

int queueUnstick(const std::string& dir, const std::string& domain, int scan_interval_s,
                 const FindMaster& find_master) {
  auto entries = scanQueue(dir);
  if (!entries) {
    fmt::print(stderr, "upesi: {}\n", entries.error());
    return 1;
  }
  std::int64_t now = nowMs();
  std::size_t renamed = 0;
  bool failed = false;
  for (const QueueEntry* e : selectStuck(*entries, domain, now)) {
    std::string new_name;
    auto attempt = unstickClaimed(dir, e->name, now, new_name);
    if (attempt.outcome == Outcome::Done) {
      fmt::print("due now: {} -> {}\n", printable(e->name), printable(new_name));
      ++renamed;
    } else {
      reportKept(e->name, attempt);
      failed = failed || attempt.outcome != Outcome::Gone;
    }
  }
  if (renamed == 0) {
    fmt::print("nothing deferred{}\n", domain.empty() ? "" : " for " + printable(domain));
    return failed ? 1 : 0;
  }
  if (!domain.empty()) {
    // SIGHUP would make every deferred message due, not just this domain's: let the server's
    // next look at the queue directory find the new names.
    fmt::print("a running server picks them up within {} s (its scan_interval)\n", scan_interval_s);
    return failed ? 1 : 0;
  }
  auto pid = find_master();
  if (!pid) {
    fmt::print("no server running ({}): they are due when it starts\n", pid.error());
  } else if (::kill(*pid, SIGHUP) != 0) {
    fmt::print(stderr, "upesi: cannot signal pid {}: {}\n", *pid, std::strerror(errno));
    failed = true;
  } else {
    fmt::print("asked upesi (pid {}) to flush\n", *pid);
  }
  return failed ? 1 : 0;
}

} // namespace

std::string isoTime(std::int64_t epoch_ms) {
  std::time_t seconds = static_cast<std::time_t>(epoch_ms / 1000);
  if (epoch_ms < 0 && epoch_ms % 1000 != 0) {
    --seconds;
  }
  std::tm tm{};
  if (::gmtime_r(&seconds, &tm) == nullptr) {
    return "?";
  }
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return n == 0 ? std::string("?") : std::string(buf, n);
}

QueueEntry describeQueueFile(const std::string& name, const queue::HeaderResult& header,
                             std::uint64_t size) {
  QueueEntry entry;
  entry.name = name;
  entry.id = name;
  entry.size = size;
  const bool error_file = queue::isErrorName(name);
  std::string_view base = name;
  if (error_file) {
    base.remove_prefix(queue::ErrorPrefix.size());
  }
  bool legacy = true;
  if (auto parsed = queue::QueueFileName::parse(base)) {
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
    if (name != "." && name != ".." && !queue::isTempName(name)) {
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
    const bool error_file = queue::isErrorName(name);
    if (!error_file && !queue::QueueFileName::parse(name)) {
      continue; // not a queue file; the server ignores it too
    }
    std::string path = joinPath(queue_dir, name);
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      continue; // gone since the listing (delivered), or no regular file
    }
    if (error_file) {
      entries.push_back(describeQueueFile(name, queue::ReadError{queue::ReadFailure::Corrupt, {}},
                                          static_cast<std::uint64_t>(st.st_size)));
      continue;
    }
    auto header = queue::readHeader(path);
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

std::string formatEntryLine(const QueueEntry& entry) {
  if (entry.unreadable) {
    return printable(fmt::format("{} unreadable size={} ({})", entry.id, entry.size, entry.error));
  }
  std::string rcpts;
  for (const auto& r : entry.rcpt_to) {
    rcpts += rcpts.empty() ? "" : ",";
    rcpts += r;
  }
  return printable(fmt::format("{} arrival={} next={} attempts={} size={} from={} to={} domain={}",
                               entry.id, isoTime(entry.arrival_ms), isoTime(entry.next_attempt_ms),
                               entry.attempts, entry.size, entry.mail_from, rcpts, entry.domain));
}

nlohmann::ordered_json entryJson(const QueueEntry& entry) {
  Json json;
  json["id"] = entry.id;
  json["file"] = entry.name;
  json["unreadable"] = entry.unreadable;
  if (entry.unreadable) {
    json["error"] = entry.error;
    json["size"] = entry.size;
    return json;
  }
  json["arrival"] = isoTime(entry.arrival_ms);
  json["arrival_ms"] = entry.arrival_ms;
  json["next_attempt"] = isoTime(entry.next_attempt_ms);
  json["next_attempt_ms"] = entry.next_attempt_ms;
  json["attempts"] = entry.attempts;
  json["size"] = entry.size;
  json["mail_from"] = entry.mail_from;
  json["rcpt_to"] = entry.rcpt_to;
  json["domain"] = entry.domain;
  json["uuid"] = entry.uuid;
  return json;
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

std::string formatStats(const QueueStats& stats) {
  std::string out = fmt::format("total: {}\ndue now: {}\ndeferred: {}\nunreadable: {}\n"
                                "oldest: {}\nbytes: {}\n",
                                stats.total, stats.due_now, stats.deferred, stats.unreadable,
                                stats.oldest_arrival_ms == 0 ? std::string("-")
                                                             : isoTime(stats.oldest_arrival_ms),
                                stats.bytes);
  for (const auto& [domain, count] : stats.domains) {
    out += printable(fmt::format("domain {}: {}", domain, count));
    out += '\n';
  }
  return out;
}

nlohmann::ordered_json statsJson(const QueueStats& stats) {
  Json json;
  json["total"] = stats.total;
  json["due_now"] = stats.due_now;
  json["deferred"] = stats.deferred;
  json["unreadable"] = stats.unreadable;
  if (stats.oldest_arrival_ms == 0) {
    json["oldest_arrival"] = nullptr;
  } else {
    json["oldest_arrival"] = isoTime(stats.oldest_arrival_ms);
  }
  json["bytes"] = stats.bytes;
  json["domains"] = Json::object();
  for (const auto& [domain, count] : stats.domains) {
    json["domains"][domain] = count;
  }
  return json;
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
    return Error{fmt::format("no queued message {}", printable(id))};
  }
  std::string names;
  for (const auto& m : matches) {
    names += names.empty() ? "" : ", ";
    names += m;
  }
  return Error{printable(
      fmt::format("{} names {} files ({}): give the file name", id, matches.size(), names))};
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

int runQueueCommand(const CliOptions& options, const FindMaster& find_master) {
  std::filesystem::path install = options.install_dir;
  config::Config config(install / "config", defaultsDir());
  auto outbound = config::readOutboundConfig(config, install);
  if (!outbound) {
    fmt::print(stderr, "upesi: {}\n", outbound.error());
    return 1;
  }
  const std::string dir = outbound->queue_dir.string();
  switch (options.command) {
  case Command::QueueList:
    return queueList(dir, options.json);
  case Command::QueueStat:
    return queueStat(dir, options.json);
  case Command::QueueShow:
    return queueShow(dir, options.queue_arg);
  case Command::QueueDelete:
    return queueDelete(dir, options.queue_arg);
  case Command::QueueEmpty:
    return queueEmpty(dir);
  case Command::QueueUnstick:
    return queueUnstick(dir, options.queue_arg, outbound->scan_interval_s, find_master);
  default:
    break;
  }
  return 2;
}

} // namespace upesi::master
