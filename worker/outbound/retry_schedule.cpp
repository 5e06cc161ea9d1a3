#include "worker/outbound/retry_schedule.hpp"

#include <upesi/text.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

namespace upesi::outbound {

namespace {

constexpr double MaxIntervalSeconds = 100.0 * 365 * 86400; // a century: anything more is a typo

// Parses one item "<number><unit>[*<count>]" and appends its expansion.
Result<std::monostate> parseItem(std::string_view item, std::vector<std::uint64_t>& out) {
  const auto bad = [&](std::string_view why) {
    return Error{fmt::format("temp_fail_intervals: bad item {:?}: {}", item, why)};
  };
  std::string_view interval = item;
  std::uint32_t count = 1;
  if (const std::size_t star = item.find('*'); star != std::string_view::npos) {
    interval = item.substr(0, star);
    const std::string_view count_text = item.substr(star + 1);
    if (count_text.empty() ||
        count_text.find_first_not_of("0123456789") != std::string_view::npos) {
      return bad("the count after '*' is not a whole number");
    }
    const auto [end, ec] =
        std::from_chars(count_text.data(), count_text.data() + count_text.size(), count);
    if (ec != std::errc{} || count == 0 || count > MaxRetryCount) {
      return bad(fmt::format("the count must be 1 to {}", MaxRetryCount));
    }
  }
  if (interval.size() < 2) {
    return bad("expected <number><s|m|h|d>");
  }
  double unit = 0;
  switch (interval.back()) {
  case 's':
    unit = 1;
    break;
  case 'm':
    unit = 60;
    break;
  case 'h':
    unit = 3600;
    break;
  case 'd':
    unit = 86400;
    break;
  default:
    return bad("the unit must be s, m, h or d");
  }
  const std::string_view number = interval.substr(0, interval.size() - 1);
  // Digits with at most one '.', and a digit somewhere.
  if (number.find_first_not_of("0123456789.") != std::string_view::npos ||
      number.find_first_of("0123456789") == std::string_view::npos ||
      number.find('.') != number.rfind('.')) {
    return bad("expected <number><s|m|h|d>");
  }
  double value = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc{} || end != number.data() + number.size()) {
    return bad("expected <number><s|m|h|d>");
  }
  const double seconds = value * unit;
  if (!(seconds >= static_cast<double>(MinRetryIntervalSeconds))) {
    return bad(fmt::format("intervals must be at least {} s", MinRetryIntervalSeconds));
  }
  if (seconds > MaxIntervalSeconds) {
    return bad("interval too long");
  }
  // Whole seconds (Haraka keeps the fraction and multiplies by 1000 for its timers; a fraction
  // of a second does not matter for a retry).
  out.insert(out.end(), count, static_cast<std::uint64_t>(std::llround(seconds)));
  if (out.size() > MaxRetryCount) {
    return bad(fmt::format("more than {} retries in all", MaxRetryCount));
  }
  return std::monostate{};
}

} // namespace

Result<RetrySchedule> RetrySchedule::parse(std::string_view text) {
  std::string cleaned;
  for (const char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      continue;
    }
    cleaned += text::toLower(c);
  }
  if (cleaned == "none") {
    return RetrySchedule(std::vector<std::uint64_t>{});
  }
  if (cleaned.empty()) {
    return Error{"temp_fail_intervals: empty (write \"none\" for no retries)"};
  }
  std::vector<std::uint64_t> intervals;
  std::string_view rest = cleaned;
  while (true) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    if (auto parsed = parseItem(item, intervals); !parsed) {
      return Error{parsed.error()};
    }
    if (comma == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(comma + 1);
  }
  return RetrySchedule(std::move(intervals));
}

RetrySchedule RetrySchedule::fromMaxTempFailures(std::uint32_t max_temp_failures) {
  std::vector<std::uint64_t> intervals;
  max_temp_failures = std::min(max_temp_failures, MaxRetryCount + 1);
  for (std::uint32_t i = 1; i < max_temp_failures; ++i) {
    const std::uint32_t power = i + 5;
    intervals.push_back(power >= 63 ? (std::uint64_t{1} << 63) : (std::uint64_t{1} << power));
  }
  return RetrySchedule(std::move(intervals));
}

std::optional<std::uint64_t> RetrySchedule::delayForAttempt(std::uint32_t attempts) const {
  if (attempts == 0 || attempts > intervals_.size()) {
    return std::nullopt;
  }
  return intervals_[attempts - 1];
}

} // namespace upesi::outbound
