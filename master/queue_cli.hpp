// The queue commands of the command line, as Postfix's postqueue/postsuper and Haraka's
// --qlist/--qstat:
//
//   --qlist [--json]     one line (or JSON object) per queued message
//   --qstat [--json]     counts: total, due now, deferred, unreadable, oldest, bytes, per domain
//   --qshow ID           the todo header (pretty JSON), a blank line, the message un-dot-stuffed
//   --qdelete ID         delete one message
//   --qempty             delete every message
//   --qunstick [DOMAIN]  make deferred messages (all, or DOMAIN's) due now
//
// They work on the queue directory itself, whether a server runs or not. Reading takes no lock:
// a queue file appears whole (written under "__tmp__." and renamed). Deleting and renaming take
// the file's flock first, as a worker does before delivering it, so a message being delivered
// right now is reported busy and left alone. "__tmp__.*" files are never listed or touched.
//
// ID is a file name, the queue id that --qlist prints ("<uid>.<counter>", or the whole name
// of an error.* or legacy file), or the uid alone (which a retry keeps).
#pragma once

#include "common/queue/queue_file.hpp"
#include "common/util/result.hpp"
#include "master/cli.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace upesi::master {

/// One file of the queue directory as the queue commands see it.
struct QueueEntry {
  std::string name;        ///< the file name
  std::string id;          ///< "<uid>.<counter>", or the name for error.* and legacy files
  std::string uid;         ///< "" when the name does not parse
  bool unreadable = false; ///< error.*, or a header that does not parse
  std::string error;       ///< why it is unreadable
  std::int64_t arrival_ms = 0;
  std::int64_t next_attempt_ms = 0;
  std::uint32_t attempts = 0;
  std::uint64_t size = 0; ///< bytes in the file
  std::string mail_from;  ///< "<a@b>", "<>"
  std::vector<std::string> rcpt_to;
  std::string domain;
  std::string uuid;
};

struct QueueStats {
  std::size_t total = 0;
  std::size_t due_now = 0;
  std::size_t deferred = 0; ///< attempts > 0
  std::size_t unreadable = 0;
  std::int64_t oldest_arrival_ms = 0; ///< 0 when no readable message
  std::uint64_t bytes = 0;
  std::map<std::string, std::size_t> domains;
};

/// "2026-11-22T10:37:50Z".
std::string isoTime(std::int64_t epoch_ms);
/// The entry for file `name` of `size` bytes whose header read gave `header` (not looked at for
/// an error.* file).
QueueEntry describeQueueFile(const std::string& name, const queue::HeaderResult& header,
                             std::uint64_t size);
/// Every entry of the queue directory but "__tmp__.*" and names that are no queue file, sorted
/// by arrival then name. A file that vanishes while being read (delivered) is left out.
Result<std::vector<QueueEntry>> scanQueue(const std::string& queue_dir);

std::string formatEntryLine(const QueueEntry& entry);
nlohmann::ordered_json entryJson(const QueueEntry& entry);
QueueStats queueStats(const std::vector<QueueEntry>& entries, std::int64_t now_ms);
std::string formatStats(const QueueStats& stats);
nlohmann::ordered_json statsJson(const QueueStats& stats);

/// The file that `id` names (see above). An error when none does, or when a uid is ambiguous.
Result<std::string> selectById(const std::vector<QueueEntry>& entries, std::string_view id);
/// The readable entries not due yet (next attempt after now_ms), all or those whose domain is
/// `domain` (ASCII case-insensitive; "" for all).
std::vector<const QueueEntry*> selectStuck(const std::vector<QueueEntry>& entries,
                                           std::string_view domain, std::int64_t now_ms);
/// The stored message with its dot-stuffing undone ("..x" at a line start becomes ".x").
std::string unstuff(std::string_view message);

/// The running master's pid, or why there is none (from main.cpp, which knows the pid file).
using FindMaster = std::function<Result<pid_t>()>;

/// Runs one of the queue commands; the exit status (0 done, 1 failed or partly done).
int runQueueCommand(const CliOptions& options, const FindMaster& find_master);

} // namespace upesi::master
