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
// The queue's model is common/queue/queue_model.hpp, its JSON queue_json.hpp and the changes
// to one file queue_actions.hpp (shared with the HTTP API); the terminal lines queue_print.hpp.
//
// ID is a file name, the queue id that --qlist prints ("<uid>.<counter>", or the whole name
// of an error.* or legacy file), or the uid alone (which a retry keeps).
#pragma once

#include "common/util/result.hpp"
#include "master/cli.hpp"

#include <functional>
#include <sys/types.h>

namespace upesi::master {

/// The running master's pid, or why there is none (from main.cpp, which knows the pid file).
using FindMaster = std::function<Result<pid_t>()>;

/// Runs one of the queue commands; the exit status (0 done, 1 failed or partly done).
int runQueueCommand(const CliOptions& options, const FindMaster& find_master);

} // namespace upesi::master
