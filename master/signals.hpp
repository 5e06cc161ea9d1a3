// The master's signals (their meanings: common/util/signal_meanings.hpp). Handlers only record
// the signal and wake the master's poll through a self-pipe; the master loop acts on it.
#pragma once

#include "common/util/signal_meanings.hpp"

#include <optional>
#include <string_view>

namespace upesi::master {

using MasterAction = SignalAction;

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
