// The master's signals, in one table. Handlers only record the signal and wake the master's
// poll through a self-pipe; the master loop acts on it.
//
//   SIGHUP    flush     every worker tries its deferred outbound mail now
//   SIGUSR2   reload    check the config, start a new generation of workers, retire the old
//   SIGTERM   stop      graceful: workers finish their sessions (bounded), then exit
//   SIGINT    stop      as SIGTERM
//   SIGUSR1   reopen    reopen log files (master and workers)
//   SIGCHLD   reap      a worker (or the config checker) exited
#pragma once

#include <optional>
#include <string_view>

namespace upesi::master {

enum class MasterAction { Flush, Reload, Stop, ReopenLogs, Reap };

struct SignalEntry {
  int signal;
  std::string_view name;
  MasterAction action;
};

/// Installs the handlers; returns the read end of the self-pipe to poll.
int installSignalHandlers();

/// The next pending action, if a signal arrived (drains the pipe as it goes).
std::optional<MasterAction> nextSignalAction();

/// Restores default handlers and unblocks everything (in a child before exec).
void resetSignalsForChild();

/// The signal that asks for `action` (for `upesi --reload` and friends).
int signalFor(MasterAction action);
std::string_view actionName(MasterAction action);

} // namespace upesi::master
