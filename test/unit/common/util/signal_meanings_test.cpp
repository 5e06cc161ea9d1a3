#include "common/util/signal_meanings.hpp"

#include <doctest/doctest.h>

#include <set>

using upesi::SignalAction;
using upesi::SignalMeaning;

TEST_CASE("signal meanings: Haraka's, one entry a signal, the master's to decide in workers") {
  std::set<int> seen;
  for (const auto& meaning : upesi::SignalMeanings) {
    CHECK(seen.insert(meaning.signal).second);
    CHECK(upesi::signalMeaning(meaning.signal) == &meaning);
  }
  CHECK(upesi::signalMeaning(SIGHUP)->action == SignalAction::Flush);
  CHECK(upesi::signalMeaning(SIGUSR2)->action == SignalAction::Reload);
  CHECK(upesi::signalMeaning(SIGINT)->action == SignalAction::Stop);
  CHECK(upesi::signalMeaning(SIGPIPE) == nullptr);
  // A worker stops on SIGTERM and reopens its log on SIGUSR1; the rest is the master's call,
  // and SIGCHLD keeps its default so that a worker's own children are still reaped normally.
  for (const auto& meaning : upesi::SignalMeanings) {
    const bool acts = meaning.signal == SIGTERM || meaning.signal == SIGUSR1;
    CHECK((meaning.in_worker == SignalMeaning::InWorker::Act) == acts);
  }
  CHECK(upesi::signalMeaning(SIGCHLD)->in_worker == SignalMeaning::InWorker::Default);
}
