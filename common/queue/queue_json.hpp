// The queue as JSON, one shape for every reader: `upesi --qlist --json` / `--qstat --json` and
// the HTTP API print these very objects. Times are ISO 8601 in UTC, with the epoch ms beside.
#pragma once

#include "common/queue/queue_model.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace upesi::queue {

/// "2026-11-22T10:37:50Z".
std::string isoTime(std::int64_t epoch_ms);

nlohmann::ordered_json entryJson(const QueueEntry& entry);
nlohmann::ordered_json statsJson(const QueueStats& stats);

/// JSON text; bytes that are not UTF-8 (names, addresses from disk) become U+FFFD rather than
/// an exception. `indent` -1: one line.
std::string dumpJson(const nlohmann::ordered_json& json, int indent);

} // namespace upesi::queue
