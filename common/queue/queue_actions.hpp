// What an operator does to one queued message (`upesi --qdelete`, `--qunstick`, the HTTP API's
// DELETE): each takes the file's flock first, as a worker does before delivering it, so a
// message being delivered right now is reported busy and left alone. Blocking: off the loop.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace upesi::queue {

enum class ActionOutcome {
  Done,
  Busy,   ///< a worker holds the file's lock: it is being delivered
  Gone,   ///< no longer under that name (delivered, or renamed by a retry meanwhile)
  Failed, ///< see message
};

struct ActionResult {
  ActionOutcome outcome = ActionOutcome::Done;
  std::string message; ///< the error, for Failed
};

inline constexpr std::string_view BusyText = "busy: being delivered";
inline constexpr std::string_view GoneText = "gone (delivered or renamed meanwhile)";

/// Claims `name` as a worker would, then unlinks it (and syncs the directory) under the lock.
ActionResult deleteQueued(const std::string& dir, const std::string& name);

/// Claims `name`, then renames it to the same fields but next attempt = now_ms; `new_name` gets
/// the name it has now.
ActionResult makeDueNow(const std::string& dir, const std::string& name, std::int64_t now_ms,
                        std::string& new_name);

} // namespace upesi::queue
