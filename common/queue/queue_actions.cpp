#include "common/queue/queue_actions.hpp"

#include "common/queue/queue_file_name.hpp"
#include "common/queue/queue_writer.hpp"

#include <fmt/format.h>

#include <unistd.h>
#include <variant>

namespace upesi::queue {
namespace {

// The lock taken, or why not. The lock is held until the returned value goes.
std::variant<QueueFileLock, ActionResult> claim(const std::string& dir, const std::string& name) {
  auto claimed = claimQueueFile(dir, name);
  if (auto* error = std::get_if<ClaimError>(&claimed)) {
    switch (error->kind) {
    case ClaimFailure::Held:
      return ActionResult{ActionOutcome::Busy, {}};
    case ClaimFailure::Gone:
      return ActionResult{ActionOutcome::Gone, {}};
    case ClaimFailure::Error:
      return ActionResult{ActionOutcome::Failed, error->message};
    }
  }
  return std::move(std::get<QueueFileLock>(claimed));
}

} // namespace

ActionResult deleteQueued(const std::string& dir, const std::string& name) {
  auto claimed = claim(dir, name);
  if (auto* refused = std::get_if<ActionResult>(&claimed)) {
    return *refused;
  }
  if (auto removed = removeQueueFile(dir, name); !removed) {
    return {ActionOutcome::Failed, removed.error()};
  }
  return {};
}

ActionResult makeDueNow(const std::string& dir, const std::string& name, std::int64_t now_ms,
                        std::string& new_name) {
  auto claimed = claim(dir, name);
  if (auto* refused = std::get_if<ActionResult>(&claimed)) {
    return *refused;
  }
  auto parsed = QueueFileName::parse(name, now_ms);
  if (!parsed) {
    return {ActionOutcome::Failed, fmt::format("{}: {}", name, parsed.error())};
  }
  new_name = parsed->retryName(now_ms, parsed->attempts, ::getpid()).format();
  if (auto renamed = renameQueueFile(dir, name, new_name); !renamed) {
    return {ActionOutcome::Failed, renamed.error()};
  }
  return {};
}

} // namespace upesi::queue
