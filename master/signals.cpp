#include "master/signals.hpp"

#include <array>
#include <atomic>
#include <csignal>
#include <fcntl.h>
#include <unistd.h>

namespace upesi::master {
namespace {

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
  for (const auto& entry : SignalMeanings) {
    ::sigaction(entry.signal, &sa, nullptr);
  }
  ignoreBrokenPipeSignals();
  return pipe_fds[0];
}

std::optional<MasterAction> nextSignalAction() {
  unsigned char byte = 0;
  if (::read(pipe_fds[0], &byte, 1) != 1) {
    return std::nullopt;
  }
  for (const auto& entry : SignalMeanings) {
    if (entry.signal == byte) {
      return entry.action;
    }
  }
  return std::nullopt;
}

void resetSignalsForChild() {
  for (const auto& entry : SignalMeanings) {
    ::signal(entry.signal, SIG_DFL);
  }
  for (int signal : IgnoredSignals) {
    ::signal(signal, SIG_DFL);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

int signalFor(MasterAction action) {
  for (const auto& entry : SignalMeanings) {
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
