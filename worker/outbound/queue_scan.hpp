// Reading the queue directory for the outbound schedule, on the thread pool: every queue file's
// due time comes from its name (Haraka's names carry the next attempt), and only the `keep`
// earliest are returned, so that a read of a million files holds `keep` names, not a million.
// The others are counted, with the earliest due time among them.
//
// A flush makes every file then in the queue due now, however long it takes to get through
// them: a flush read returns the set of the names it saw (as hashes, 8 bytes a file), and a
// later read given that set counts those names as due at the flush.
//
// Threading: readQueueDirectory runs on any thread; it touches only its arguments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace upesi::outbound {

/// The names in the queue at a flush, hashed and sorted.
struct FlushedNames {
  std::int64_t at_ms = 0;
  std::vector<std::uint64_t> hashes;

  static std::uint64_t hash(std::string_view name);
  bool contains(std::string_view name) const;
};

struct QueueRead {
  std::vector<std::pair<std::string, std::int64_t>> files; ///< name, due (epoch ms), earliest first
  std::uint64_t total = 0;                                 ///< queue files in the directory
  std::uint64_t left_out = 0;                              ///< of them not in `files`
  std::int64_t left_out_due = 0;         ///< the earliest due among those left out
  std::int64_t oldest_arrival_ms = 0;    ///< of every queue file, 0 when none
  std::shared_ptr<FlushedNames> flushed; ///< every name seen, for a flush read
  std::string error;                     ///< why the directory could not be read
};

/// Reads `dir`. `flushed`: names due at its time whatever their names say (may be null).
/// `flush_at_ms` > 0 makes this a flush read: every file is due by then, and the result's
/// `flushed` holds every name seen.
QueueRead readQueueDirectory(const std::string& dir, std::size_t keep,
                             std::shared_ptr<const FlushedNames> flushed,
                             std::int64_t flush_at_ms = 0);

} // namespace upesi::outbound
