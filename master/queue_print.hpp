// How the queue commands show the queue on a terminal: one line per message and the counts
// (the JSON forms are common/queue/queue_json.hpp, shared with the HTTP API). What comes from
// files on disk is escaped as log lines are, so a name or an address cannot put control
// characters on the terminal.
#pragma once

#include "common/queue/queue_model.hpp"

#include <string>
#include <string_view>

namespace upesi::master {

std::string formatEntryLine(const queue::QueueEntry& entry);
std::string formatStats(const queue::QueueStats& stats);

/// `text` with control bytes and invalid UTF-8 escaped (\xNN), for the terminal.
std::string printable(std::string_view text);

} // namespace upesi::master
