// When to retry after a temporary failure: Haraka's outbound temp_fail_intervals.
//
//   temp_fail_intervals = 1m, 5m*2, 1h*3     → 60, 300, 300, 3600, 3600, 3600 seconds
//   temp_fail_intervals = none               → no retries: bounce on the first temp failure
//   (unset)                                  → maxTempFailures (default 13): 2^6 .. 2^17 s,
//                                              64, 128, ... 131072 (12 retries, about 3 days)
//
// Items are "<number><s|m|h|d>[*<count>]" separated by commas; whitespace anywhere is ignored
// and the text is lower-cased first, as Haraka does. The number may have a fraction ("1.5h").
// Haraka requires each interval to be at least 5 s; Upesi allows 1 s (its own tests retry
// within seconds), so a value Haraka rejects for being short (1s..4s) is accepted here. Any
// syntax error is an Error naming the bad item (Haraka logs it and keeps its defaults; the
// caller decides).
//
// delayForAttempt(n) is the wait after the n-th temporary failure (n counts from 1, the
// value the file name's attempts field gets); nullopt means give up and bounce.
#pragma once

#include "common/util/result.hpp"

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace upesi::outbound {

inline constexpr std::uint32_t DefaultMaxTempFailures = 13;
inline constexpr std::uint64_t MinRetryIntervalSeconds = 1; // Haraka: 5
inline constexpr std::uint32_t MaxRetryCount = 100000;      // bounds "1s*N" expansion

class RetrySchedule {
public:
  /// Haraka's default: maxTempFailures = 13.
  RetrySchedule() : RetrySchedule(fromMaxTempFailures(DefaultMaxTempFailures)) {}
  explicit RetrySchedule(std::vector<std::uint64_t> intervals_seconds)
      : intervals_(std::move(intervals_seconds)) {}

  /// Parses a temp_fail_intervals value.
  static Result<RetrySchedule> parse(std::string_view text);
  /// [2^(i+5) s for i in 1 .. max_temp_failures − 1]: max_temp_failures − 1 retries, then a
  /// bounce on failure number max_temp_failures. 0 or 1 → no retries. At most MaxRetryCount
  /// retries; intervals above 2^63 s are capped (only reachable with max_temp_failures > 58).
  static RetrySchedule fromMaxTempFailures(std::uint32_t max_temp_failures);

  /// Seconds to wait after temporary failure number `attempts` (1-based), or nullopt when
  /// the schedule is exhausted (attempts > intervals().size(), or attempts == 0).
  std::optional<std::uint64_t> delayForAttempt(std::uint32_t attempts) const;

  const std::vector<std::uint64_t>& intervals() const { return intervals_; }
  bool operator==(const RetrySchedule&) const = default;

private:
  std::vector<std::uint64_t> intervals_;
};

} // namespace upesi::outbound
