// Splits: a delivery that reached some recipients and not others records it as Postfix does,
// in the queue file itself. The file is rewritten with only the recipients left to deliver
// (queue::rewriteQueueFile): the delivered ones leave the queue in the same rename, so neither
// a crash nor a retry sends them a second copy.
//
// When the rewrite fails (the disk is full or failing), nothing on disk says who has the
// message: the original, every recipient in it, must not be tried again. PendingSplits keeps
// it locked (no worker claims it) and out of this worker's schedule, and writes the split again
// every so often, and at a flush. If the process dies first, the lock goes with it and the
// original is delivered again to everyone: nothing durable could say otherwise.
//
// Threading: the loop thread; the writes go to the thread pool.
#pragma once

#include "common/queue/queue_writer.hpp"
#include "common/queue/todo.hpp"
#include "common/util/result.hpp"

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace upesi::outbound {

/// A split that could not be written is tried again this often: its recipients' next attempt
/// if that is sooner (a failing disk may recover), else a minute, and not more than once a
/// second.
inline constexpr std::int64_t MinSplitRetryMs = 1000;
inline constexpr std::int64_t MaxSplitRetryMs = 60000;

struct Split {
  std::string name;          ///< the original file
  queue::QueueFileLock lock; ///< held on it; the message is read through lock.fd()
  std::uint64_t message_offset = 0;
  std::string next_name;   ///< the file of the recipients left,
  queue::Todo todo;        ///< its header,
  std::int64_t due_ms = 0; ///< and when they are tried next
};

/// Blocking (the thread pool): rewrites split.name as split.next_name with split.todo.
Result<queue::Rewritten> writeSplit(const std::string& queue_dir, const Split& split);

class PendingSplits {
public:
  /// Told, on the loop, where a split was written at last and when it is due.
  using Written = std::function<void(const std::string& name, std::int64_t due_ms)>;

  PendingSplits(uv_loop_t* loop, std::string queue_dir, Written written);
  ~PendingSplits();
  PendingSplits(const PendingSplits&) = delete;
  PendingSplits& operator=(const PendingSplits&) = delete;

  /// A split that could not be written: kept, and written again every `retry_ms` from now_ms.
  void add(Split split, std::int64_t now_ms, std::int64_t retry_ms);
  /// Whether `name` is an original kept here (it must not be delivered).
  bool holds(const std::string& name) const { return pending_.count(name) != 0; }
  std::size_t size() const { return pending_.size(); }
  /// Writes again the splits whose retry time has come.
  void retry(std::int64_t now_ms);
  /// A flush: every split is written again now, and its recipients are due now.
  void flush(std::int64_t now_ms);

private:
  struct Entry {
    Split split;
    std::int64_t retry_ms = 0;
    std::int64_t next_try_ms = 0;
    bool writing = false;
  };
  void write(const std::shared_ptr<Entry>& entry, std::int64_t now_ms);

  uv_loop_t* loop_;
  std::string queue_dir_;
  Written written_;
  std::map<std::string, std::shared_ptr<Entry>> pending_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace upesi::outbound
