#include "common/queue/queue_file_name.hpp"

#include "common/util/clock.hpp"

#include <fmt/format.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <sys/random.h>
#include <vector>

namespace upesi::queue {

namespace {

constexpr std::string_view UidAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
constexpr std::size_t MaxUidLength = 64;
constexpr std::uint32_t CounterWrap = 10000;

std::atomic<std::uint32_t> counter_state{0};

std::vector<std::string_view> splitFields(std::string_view name) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  while (true) {
    const std::size_t at = name.find('_', start);
    if (at == std::string_view::npos) {
      fields.push_back(name.substr(start));
      return fields;
    }
    fields.push_back(name.substr(start, at - start));
    start = at + 1;
  }
}

template <typename Number>
Result<Number> parseNumber(std::string_view text, std::string_view field, std::string_view name) {
  Number value{};
  const bool digits_only =
      !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
  if (!digits_only) {
    return Error{fmt::format("queue file name {:?}: {} is not a number", name, field)};
  }
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    return Error{fmt::format("queue file name {:?}: {} is out of range", name, field)};
  }
  return value;
}

bool validHost(std::string_view host) {
  return host.find_first_of(std::string_view("_/\0", 3)) == std::string_view::npos;
}

bool validUid(std::string_view uid) {
  return !uid.empty() && uid.size() <= MaxUidLength &&
         uid.find_first_not_of(UidAlphabet) == std::string_view::npos;
}

Result<QueueFileName> parseCurrent(const std::vector<std::string_view>& fields,
                                   std::string_view name) {
  QueueFileName out;
  auto arrival = parseNumber<std::int64_t>(fields[0], "arrival", name);
  if (!arrival) {
    return Error{arrival.error()};
  }
  auto next_attempt = parseNumber<std::int64_t>(fields[1], "next attempt", name);
  if (!next_attempt) {
    return Error{next_attempt.error()};
  }
  auto attempts = parseNumber<std::uint32_t>(fields[2], "attempts", name);
  if (!attempts) {
    return Error{attempts.error()};
  }
  auto pid = parseNumber<std::int64_t>(fields[3], "pid", name);
  if (!pid) {
    return Error{pid.error()};
  }
  if (!validUid(fields[4])) {
    return Error{fmt::format("queue file name {:?}: uid is not 1 to {} letters and digits", name,
                             MaxUidLength)};
  }
  auto counter = parseNumber<std::uint32_t>(fields[5], "counter", name);
  if (!counter) {
    return Error{counter.error()};
  }
  if (!validHost(fields[6])) {
    return Error{fmt::format("queue file name {:?}: bad host field", name)};
  }
  out.arrival_ms = *arrival;
  out.next_attempt_ms = *next_attempt;
  out.attempts = *attempts;
  out.pid = *pid;
  out.uid = std::string(fields[4]);
  out.counter = *counter;
  out.host = std::string(fields[6]);
  return out;
}

// <next_attempt>_<attempts>_<pid>_<uniq digits>.<host>
Result<QueueFileName> parseLegacy(const std::vector<std::string_view>& fields,
                                  std::string_view name, std::int64_t now_ms) {
  auto next_attempt = parseNumber<std::int64_t>(fields[0], "next attempt", name);
  if (!next_attempt) {
    return Error{next_attempt.error()};
  }
  auto attempts = parseNumber<std::uint32_t>(fields[1], "attempts", name);
  if (!attempts) {
    return Error{attempts.error()};
  }
  auto pid = parseNumber<std::int64_t>(fields[2], "pid", name);
  if (!pid) {
    return Error{pid.error()};
  }
  const std::string_view last = fields[3];
  const std::size_t dot = last.find('.');
  if (dot == std::string_view::npos) {
    return Error{fmt::format("queue file name {:?}: legacy name without '.<host>'", name)};
  }
  auto uniq = parseNumber<std::uint64_t>(last.substr(0, dot), "unique number", name);
  if (!uniq) {
    return Error{uniq.error()};
  }
  const std::string_view host = last.substr(dot + 1);
  if (!validHost(host)) {
    return Error{fmt::format("queue file name {:?}: bad host field", name)};
  }
  QueueFileName out;
  out.arrival_ms = now_ms;
  out.next_attempt_ms = *next_attempt;
  out.attempts = *attempts;
  out.pid = *pid;
  out.uid = randomUid();
  out.counter = nextCounter();
  out.host = std::string(host);
  out.legacy = true;
  return out;
}

} // namespace

Result<QueueFileName> QueueFileName::parse(std::string_view name, std::int64_t now_ms) {
  if (isTempName(name) || isErrorName(name)) {
    return Error{fmt::format("queue file name {:?}: a temporary or error file", name)};
  }
  const auto fields = splitFields(name);
  if (fields.size() == 7) {
    return parseCurrent(fields, name);
  }
  if (fields.size() == 4) {
    return parseLegacy(fields, name, now_ms);
  }
  return Error{fmt::format("queue file name {:?}: {} '_'-separated fields, expected 7 (or 4)", name,
                           fields.size())};
}

Result<QueueFileName> QueueFileName::parse(std::string_view name) {
  return parse(name, epochMs());
}

QueueFileName QueueFileName::makeNew(std::int64_t now_ms, std::int64_t pid,
                                     std::string_view hostname) {
  QueueFileName out;
  out.arrival_ms = now_ms;
  out.next_attempt_ms = now_ms;
  out.attempts = 0;
  out.pid = pid;
  out.uid = randomUid();
  out.counter = nextCounter();
  out.host = escapeHost(hostname);
  return out;
}

QueueFileName QueueFileName::retryName(std::int64_t new_next_attempt_ms, std::uint32_t new_attempts,
                                       std::int64_t new_pid) const {
  QueueFileName out = *this;
  out.next_attempt_ms = new_next_attempt_ms;
  out.attempts = new_attempts;
  out.pid = new_pid;
  out.counter = nextCounter();
  out.legacy = false;
  return out;
}

std::string QueueFileName::format() const {
  return fmt::format("{}_{}_{}_{}_{}_{}_{}", arrival_ms, next_attempt_ms, attempts, pid, uid,
                     counter, host);
}

bool isTempName(std::string_view name) {
  return name.starts_with(TempPrefix);
}

bool isErrorName(std::string_view name) {
  return name.starts_with(ErrorPrefix);
}

std::string escapeHost(std::string_view hostname) {
  std::string out;
  out.reserve(hostname.size());
  for (const char c : hostname) {
    switch (c) {
    case '\\':
      out += "\\057";
      break;
    case ':':
      out += "\\072";
      break;
    case '_':
      out += "\\137";
      break;
    default:
      out += c;
      break;
    }
  }
  return out;
}

std::uint32_t nextCounter() {
  std::uint32_t current = counter_state.load(std::memory_order_relaxed);
  std::uint32_t next = 0;
  do {
    next = current < CounterWrap ? current + 1 : 0;
  } while (!counter_state.compare_exchange_weak(current, next, std::memory_order_relaxed));
  return next;
}

std::string randomUid() {
  // Rejection sampling keeps the 62 characters equally likely: 248 = 4 × 62.
  std::string out;
  std::array<unsigned char, 16> pool{};
  while (out.size() < UidLength) {
    const ssize_t got = ::getrandom(pool.data(), pool.size(), 0);
    if (got <= 0) {
      if (got < 0 && errno == EINTR) {
        continue;
      }
      // getrandom cannot fail once the kernel pool is initialised; fall back on the clock
      // rather than leave the name short.
      const auto tick =
          static_cast<std::uint64_t>(epochMs()) ^ reinterpret_cast<std::uintptr_t>(&out);
      out += UidAlphabet[(tick + out.size() * 7) % UidAlphabet.size()];
      continue;
    }
    for (ssize_t i = 0; i < got && out.size() < UidLength; ++i) {
      if (pool[static_cast<std::size_t>(i)] < 248) {
        out += UidAlphabet[pool[static_cast<std::size_t>(i)] % UidAlphabet.size()];
      }
    }
  }
  return out;
}

} // namespace upesi::queue
