// The queue directory as an operator sees it (the queue commands of the command line and the
// HTTP API): its files described from their names and headers, counted, and selected by id.
// Reads only (blocking: off the loop); prints nothing.
#pragma once

#include "common/queue/queue_file.hpp"
#include "common/util/result.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace upesi::queue {

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

/// The entry for file `name` of `size` bytes whose header read gave `header` (not looked at for
/// an error.* file).
QueueEntry describeQueueFile(const std::string& name, const HeaderResult& header,
                             std::uint64_t size);
/// Calls `visit` with the name of every file of the queue directory but "__tmp__.*" and names
/// that are no queue file, as the directory lists them, reading nothing else.
Result<std::monostate> forEachQueueName(const std::string& queue_dir,
                                        const std::function<void(std::string_view)>& visit);
/// The entry of one file of the queue directory, read now; nullopt when it has gone.
std::optional<QueueEntry> readQueueEntry(const std::string& queue_dir, const std::string& name);

/// Every entry of the queue directory but "__tmp__.*" and names that are no queue file, sorted
/// by arrival then name. A file that vanishes while being read (delivered) is left out. Holds
/// the whole queue in memory: for the command line; a server uses the calls below.
Result<std::vector<QueueEntry>> scanQueue(const std::string& queue_dir);

struct QueueListing {
  std::vector<QueueEntry> entries; ///< the first `limit` in scanQueue's order
  std::size_t total = 0;           ///< queue files in the directory
};
/// scanQueue's first `limit` entries and the count of all, holding `limit` entries at a time
/// and reading the header of a file only if it may be among them.
Result<QueueListing> listQueue(const std::string& queue_dir, std::size_t limit);

QueueStats queueStats(const std::vector<QueueEntry>& entries, std::int64_t now_ms);
void addToStats(QueueStats& stats, const QueueEntry& entry, std::int64_t now_ms);
/// queueStats of the whole directory, read one file at a time.
Result<QueueStats> queueStatsOf(const std::string& queue_dir, std::int64_t now_ms);

/// The queue id of a file name: "<uid>.<counter>", or the name itself for error.* and legacy
/// files (what --qlist prints and selectById takes).
std::string queueIdOf(std::string_view name);

/// The file that `id` names: a file name, a queue id, or a uid alone (which a retry keeps). An
/// error when none does, or when a uid is ambiguous.
Result<std::string> selectById(const std::vector<QueueEntry>& entries, std::string_view id);
/// The files of the queue directory that selectById could pick for `id` (by file name, queue
/// id or uid), described from their names alone: no header is read.
Result<std::vector<QueueEntry>> entriesNamedBy(const std::string& queue_dir, std::string_view id);
/// The readable entries not due yet (next attempt after now_ms), all or those whose domain is
/// `domain` (ASCII case-insensitive; "" for all).
std::vector<const QueueEntry*> selectStuck(const std::vector<QueueEntry>& entries,
                                           std::string_view domain, std::int64_t now_ms);

/// Undoes dot-stuffing across chunk boundaries: a '.' at a line start is held until the next
/// byte shows whether it was doubled.
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

/// The stored message with its dot-stuffing undone ("..x" at a line start becomes ".x").
std::string unstuff(std::string_view message);

} // namespace upesi::queue
