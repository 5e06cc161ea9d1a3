// How the queue commands show the queue: one line or one JSON object per message, the counts,
// and times in ISO 8601. What comes from files on disk is escaped as log lines are, so a name
// or an address cannot put control characters on the terminal.
#pragma once

#include "master/queue_model.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace upesi::master {

/// "2026-11-22T10:37:50Z".
std::string isoTime(std::int64_t epoch_ms);

std::string formatEntryLine(const QueueEntry& entry);
nlohmann::ordered_json entryJson(const QueueEntry& entry);
std::string formatStats(const QueueStats& stats);
nlohmann::ordered_json statsJson(const QueueStats& stats);

/// `text` with control bytes and invalid UTF-8 escaped (\xNN), for the terminal.
std::string printable(std::string_view text);
/// Pretty JSON; bytes that are not UTF-8 become U+FFFD rather than an exception.
std::string dumpJson(const nlohmann::ordered_json& json, int indent);

} // namespace upesi::master
