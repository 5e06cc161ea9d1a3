// Queueing relayed mail: a transaction becomes one queue file per destination domain (or per
// recipient with always_split), each written durably on the thread pool before the client
// hears 250. If any file fails, the ones already written are removed and the client is told to
// try again, so a message is never half queued.
#pragma once

#include <upesi/connection.hpp>

#include "common/config/outbound_config.hpp"
#include "common/queue/todo.hpp"
#include "common/util/result.hpp"

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace upesi::outbound {

struct QueuedFile {
  std::string name;
  queue::Todo todo;
};

/// Builds the todos of `txn` (on the loop thread).
std::vector<QueuedFile> planQueueFiles(Transaction& txn, const config::OutboundConfig& config,
                                       const std::string& hostname);

/// Writes the files on the thread pool, then calls `done` on the loop with the files written,
/// or an error (and nothing left on disk).
void writeQueueFiles(uv_loop_t* loop, std::shared_ptr<Transaction> txn,
                     std::vector<QueuedFile> files, std::string queue_dir,
                     std::function<void(Result<std::vector<QueuedFile>>)> done);

} // namespace upesi::outbound
