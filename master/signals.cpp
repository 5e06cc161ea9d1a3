#include "master/signals.hpp"

#include <array>
#include <atomic>
#include <csignal>
#include <fcntl.h>
#include <unistd.h>

namespace upesi::master {
namespace {

constexpr std::array<SignalEntry, 6> Table = {{
    {SIGHUP, "SIGHUP", MasterAction::Flush},
    {SIGUSR2, "SIGUSR2", MasterAction::Reload},
    {SIGTERM, "SIGTERM", MasterAction::Stop},
    {SIGINT, "SIGINT", MasterAction::Stop},
    {SIGUSR1, "SIGUSR1", MasterAction::ReopenLogs},
    {SIGCHLD, "SIGCHLD", MasterAction::Reap},
}};

int pipe_fds[2] = {-1, -1};

// Async-signal-safe: one byte, the signal number, into a non-blocking pipe.
void onSignal(int signum) {
  int saved = errno;
  auto byte = static_cast<unsigned char>(signum);
  [[maybe_unused]] ssize_t n = ::write(pipe_fds[1], &byte, 1);
  errno = saved;
}

} // namespace

int installSignalHandlers() {
  if (pipe_fds[0] < 0) {
    ::pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC);
  }
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (const auto& entry : Table) {
    ::sigaction(entry.signal, &sa, nullptr);
  }
  ::signal(SIGPIPE, SIG_IGN);
  // A file past RLIMIT_FSIZE is a write error (EFBIG) to handle, not the end of the process.
  ::signal(SIGXFSZ, SIG_IGN);
  return pipe_fds[0];
}

std::optional<MasterAction> nextSignalAction() {
  unsigned char byte = 0;
  if (::read(pipe_fds[0], &byte, 1) != 1) {
    return std::nullopt;
  }
  for (const auto& entry : Table) {
    if (entry.signal == byte) {
      return entry.action;
    }
  }
  return std::nullopt;
}

void resetSignalsForChild() {
  for (const auto& entry : Table) {
    ::signal(entry.signal, SIG_DFL);
  }
  ::signal(SIGPIPE, SIG_DFL);
  ::signal(SIGXFSZ, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

int signalFor(MasterAction action) {
  for (const auto& entry : Table) {
    if (entry.action == action) {
      return entry.signal;
    }
  }
  return 0;
}

std::string_view actionName(MasterAction action) {
  switch (action) {
  case MasterAction::Flush:
    return "flush";
  case MasterAction::Reload:
    return "reload";
  case MasterAction::Stop:
    return "stop";
  case MasterAction::ReopenLogs:
    return "reopen logs";
  case MasterAction::Reap:
    return "reap";
  }
  return "?";
}

} // namespace upesi::master
