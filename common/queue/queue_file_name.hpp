// A queue file's name: Haraka's seven '_'-separated fields, which carry the schedule.
//
//   <arrival_ms>_<next_attempt_ms>_<attempts>_<pid>_<uid>_<counter>_<host>
//   1795418532514_1795418532514_0_30418_09H91d_1_vm
//
// arrival_ms is kept across retries, next_attempt_ms is absolute epoch milliseconds, attempts
// counts temporary failures so far, pid names the process that wrote the name (informational in
// Upesi: ownership is a flock on the file), uid is 6 random [A-Za-z0-9], counter a per-process
// counter 1..10000 that wraps to 0, host the writer's hostname escaped so that it holds no '_'
// (escapeHost).
//
// Haraka before 2.8.17 wrote `<next_attempt>_<attempts>_<pid>_<uniq>.<host>`; such a name is
// still read (legacy = true): arrival becomes "now" and uid and counter are made up, so format()
// gives a new-style name and the file should be renamed to it.
//
// Other files in the queue directory: "__tmp__.<name>" is being written (deleted at start-up),
// "error.<name>" could not be read (left alone). Any other name is rejected by parse().
#pragma once

#include "common/util/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace upesi::queue {

inline constexpr std::string_view TempPrefix = "__tmp__.";
inline constexpr std::string_view ErrorPrefix = "error.";
inline constexpr std::size_t UidLength = 6;

struct QueueFileName {
  std::int64_t arrival_ms = 0;
  std::int64_t next_attempt_ms = 0;
  std::uint32_t attempts = 0;
  std::int64_t pid = 0;
  std::string uid;
  std::uint32_t counter = 0;
  std::string host;    ///< escaped, as in the name (see escapeHost)
  bool legacy = false; ///< parsed from a pre-2.8.17 four-field name

  bool operator==(const QueueFileName&) const = default;

  /// Parses a 7-field or legacy 4-field name. A legacy name gets arrival = now_ms and a fresh
  /// uid and counter. Numbers must be plain decimal digits that fit their field; the uid 1..64
  /// characters of [A-Za-z0-9] (Haraka writes 6); the host any bytes but '_', '/' and NUL.
  static Result<QueueFileName> parse(std::string_view name, std::int64_t now_ms);
  /// The same with the current time.
  static Result<QueueFileName> parse(std::string_view name);

  /// A name for new mail: arrival = next attempt = now_ms, 0 attempts, a random uid, the next
  /// counter, the hostname escaped.
  static QueueFileName makeNew(std::int64_t now_ms, std::int64_t pid, std::string_view hostname);

  /// The name after a temporary failure: same arrival, uid and host, the given schedule, our
  /// pid and a new counter. The host is kept as it is (already escaped): Haraka escapes it a
  /// second time here ("\137" becomes "\057137"), which we do not copy.
  QueueFileName retryName(std::int64_t new_next_attempt_ms, std::uint32_t new_attempts,
                          std::int64_t new_pid) const;

  /// The 7-field name.
  std::string format() const;
};

/// "__tmp__.<name>": a file being written.
bool isTempName(std::string_view name);
/// "error.<name>": a file set aside because it could not be read.
bool isErrorName(std::string_view name);

/// Haraka's escaping of the hostname field: '\' → "\057", ':' → "\072", '_' → "\137".
std::string escapeHost(std::string_view hostname);

/// The next value of this process's counter: 1, 2, ... 10000, then 0, 1, ... Thread-safe.
std::uint32_t nextCounter();
/// UidLength random characters of [A-Za-z0-9] (getrandom).
std::string randomUid();

} // namespace upesi::queue
