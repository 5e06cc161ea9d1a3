// What each signal means to Upesi, in the one table the master (master/signals.cpp), a server
// without workers (worker/server/single_process.cpp) and a worker (worker/server/
// worker_process.cpp) all read, as Haraka gives them:
//
//   SIGHUP    flush     deferred outbound mail is due now
//   SIGUSR2   reload    new workers with the config read afresh, the old ones retire
//   SIGTERM   stop      graceful: sessions finish (bounded), then exit
//   SIGINT    stop      as SIGTERM
//   SIGUSR1   reopen    reopen the log file
//   SIGCHLD   reap      a child exited (the master's business)
//
// A worker acts on SIGTERM and SIGUSR1 itself and ignores SIGHUP, SIGUSR2 and SIGINT: the
// master decides for its workers and tells them over their control channel, and a terminal's
// Ctrl-C reaches the whole process group. Every process ignores SIGPIPE and SIGXFSZ, so that a
// closed peer or a file past RLIMIT_FSIZE is a write error to handle, not the end.
#pragma once

#include <array>
#include <csignal>
#include <string_view>

namespace upesi {

enum class SignalAction { Flush, Reload, Stop, ReopenLogs, Reap };

struct SignalMeaning {
  int signal;
  std::string_view name;
  SignalAction action;
  enum class InWorker { Act, Ignore, Default } in_worker;
};

inline constexpr std::array<SignalMeaning, 6> SignalMeanings = {{
    {SIGHUP, "SIGHUP", SignalAction::Flush, SignalMeaning::InWorker::Ignore},
    {SIGUSR2, "SIGUSR2", SignalAction::Reload, SignalMeaning::InWorker::Ignore},
    {SIGTERM, "SIGTERM", SignalAction::Stop, SignalMeaning::InWorker::Act},
    {SIGINT, "SIGINT", SignalAction::Stop, SignalMeaning::InWorker::Ignore},
    {SIGUSR1, "SIGUSR1", SignalAction::ReopenLogs, SignalMeaning::InWorker::Act},
    {SIGCHLD, "SIGCHLD", SignalAction::Reap, SignalMeaning::InWorker::Default},
}};

inline constexpr std::array<int, 2> IgnoredSignals = {SIGPIPE, SIGXFSZ};

/// The table's entry for `signal`, or nullptr.
constexpr const SignalMeaning* signalMeaning(int signal) {
  for (const auto& meaning : SignalMeanings) {
    if (meaning.signal == signal) {
      return &meaning;
    }
  }
  return nullptr;
}

/// Ignores IgnoredSignals (in every process, before anything else).
inline void ignoreBrokenPipeSignals() {
  for (int signal : IgnoredSignals) {
    ::signal(signal, SIG_IGN);
  }
}

} // namespace upesi
