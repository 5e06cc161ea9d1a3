#include "master/queue_cli.hpp"

#include "common/config/config.hpp"
#include "common/config/outbound_config.hpp"
#include "common/queue/queue_actions.hpp"
#include "common/queue/queue_file.hpp"
#include "common/queue/queue_json.hpp"
#include "common/queue/queue_model.hpp"
#include "common/util/clock.hpp"
#include "common/util/paths.hpp"
#include "master/queue_print.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <set>
#include <unistd.h>

namespace upesi::master {
namespace {

using Json = nlohmann::ordered_json;

using queue::ActionOutcome;
using queue::ActionResult;
using queue::dumpJson;
using queue::QueueEntry;
using queue::scanQueue;

std::string joinPath(const std::string& dir, const std::string& name) {
  return dir + "/" + name;
}

// The queue file `id` names, found from the file names alone, with its entry read now in
// `entries`; nothing, after saying why.
std::optional<std::string> findById(const std::string& dir, const std::string& id,
                                    std::vector<QueueEntry>& entries) {
  auto named = queue::entriesNamedBy(dir, id);
  if (!named) {
    fmt::print(stderr, "upesi: {}\n", named.error());
    return std::nullopt;
  }
  auto name = queue::selectById(*named, id);
  if (!name) {
    fmt::print(stderr, "upesi: {}\n", printable(name.error()));
    return std::nullopt;
  }
  auto entry = queue::readQueueEntry(dir, *name);
  if (!entry) {
    fmt::print(stderr, "upesi: {}: {}\n", printable(*name), queue::GoneText);
    return std::nullopt;
  }
  entries = {std::move(*entry)};
  return std::move(*name);
}

void reportKept(std::string_view name, const ActionResult& attempt) {
  if (attempt.outcome == ActionOutcome::Busy) {
    fmt::print(stderr, "upesi: {}: {}\n", printable(name), queue::BusyText);
  } else if (attempt.outcome == ActionOutcome::Gone) {
    fmt::print(stderr, "upesi: {}: {}\n", printable(name), queue::GoneText);
  } else if (attempt.outcome == ActionOutcome::Failed) {
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
      array.push_back(queue::entryJson(e));
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
  auto stats = queue::queueStatsOf(dir, epochMs());
  if (!stats) {
    fmt::print(stderr, "upesi: {}\n", stats.error());
    return 1;
  }
  if (json) {
    fmt::print("{}\n", dumpJson(queue::statsJson(*stats), 2));
  } else {
    fmt::print("{}", formatStats(*stats));
  }
  return 0;
}

int queueShow(const std::string& dir, const std::string& id) {
  std::vector<QueueEntry> entries;
  auto name = findById(dir, id, entries);
  if (!name) {
    return 1;
  }
  auto entry = std::find_if(entries.begin(), entries.end(),
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
      fmt::print(stderr, "upesi: {}: {}\n", printable(*name), queue::GoneText);
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
  queue::Unstuffer unstuffer;
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
  std::vector<QueueEntry> entries;
  auto name = findById(dir, id, entries);
  if (!name) {
    return 1;
  }
  auto attempt = queue::deleteQueued(dir, *name);
  if (attempt.outcome != ActionOutcome::Done) {
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
      auto attempt = queue::deleteQueued(dir, e.name);
      if (attempt.outcome == ActionOutcome::Done) {
        fmt::print("deleted {}\n", printable(e.name));
        ++deleted;
      } else if (attempt.outcome == ActionOutcome::Gone) {
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
  std::int64_t now = epochMs();
  std::size_t renamed = 0;
  bool failed = false;
  for (const QueueEntry* e : queue::selectStuck(*entries, domain, now)) {
    std::string new_name;
    auto attempt = queue::makeDueNow(dir, e->name, now, new_name);
    if (attempt.outcome == ActionOutcome::Done) {
      fmt::print("due now: {} -> {}\n", printable(e->name), printable(new_name));
      ++renamed;
    } else {
      reportKept(e->name, attempt);
      failed = failed || attempt.outcome != ActionOutcome::Gone;
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
