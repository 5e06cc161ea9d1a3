// DeliveryOutcome: what a delivery did with its queue file, told to the engine once, when the
// delivery ends (as Postfix's smtp reports to qmgr). The engine acts on it in one place
// (OutboundEngine::deliveryDone): it schedules the file again, holds it, keeps its unwritten
// split, or forgets it, and counts what the delivery did.
#pragma once

#include "worker/outbound/pending_splits.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace upesi::outbound {

/// The steps of a delivery that reached recipients, deferred or bounced them (one delivery may
/// do each, and bounce twice: refused recipients, then those out of retries).
struct DeliveryCounts {
  unsigned delivered = 0;
  unsigned deferred = 0;
  unsigned bounced = 0;
};

struct DeliveryOutcome {
  enum class File {
    /// Nothing to schedule: removed (delivered, bounced or dropped), moved aside, claimed by
    /// another worker or gone, or waiting for a delivery to its destination (the engine has it).
    Done,
    /// `name` (renamed for its retry, rewritten with the recipients left, or as it was) is due
    /// at `due_ms`.
    Due,
    /// send_email said DELAY: `name`, as it was, is not tried before `due_ms`, even when a scan
    /// finds it earlier (in memory, as in Haraka).
    Delayed,
    /// The recipients left could not be written apart: `split` keeps the original locked and is
    /// written again every `retry_ms`.
    SplitHeld,
  };

  File file = File::Done;
  std::string name;
  std::int64_t due_ms = 0;
  std::optional<Split> split;
  std::int64_t retry_ms = 0;
  DeliveryCounts counts;
  std::string domain; ///< the queue file's destination, once its header was read
  /// Seconds from connecting to the next hop to its answer (or to the last MX failing); none
  /// when no connection was tried.
  std::optional<double> attempt_seconds;

  static DeliveryOutcome done() { return {}; }
  static DeliveryOutcome due(std::string name, std::int64_t due_ms) {
    return {File::Due, std::move(name), due_ms, std::nullopt, 0, {}};
  }
  static DeliveryOutcome delayed(std::string name, std::int64_t until_ms) {
    return {File::Delayed, std::move(name), until_ms, std::nullopt, 0, {}};
  }
  static DeliveryOutcome splitHeld(Split split, std::int64_t retry_ms) {
    return {File::SplitHeld, {}, 0, std::move(split), retry_ms, {}};
  }

  /// The file the schedule gets, if any: Due and Delayed name one.
  bool schedules() const { return file == File::Due || file == File::Delayed; }
};

} // namespace upesi::outbound
