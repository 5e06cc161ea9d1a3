#include "master/queue_print.hpp"

#include "common/log/escape.hpp"
#include "common/queue/queue_json.hpp"

#include <fmt/format.h>

namespace upesi::master {

using queue::isoTime;

std::string printable(std::string_view text) {
  std::string out;
  log::appendLineSafe(out, text);
  return out;
}

std::string formatEntryLine(const queue::QueueEntry& entry) {
  if (entry.unreadable) {
    return printable(fmt::format("{} unreadable size={} ({})", entry.id, entry.size, entry.error));
  }
  std::string rcpts;
  for (const auto& r : entry.rcpt_to) {
    rcpts += rcpts.empty() ? "" : ",";
    rcpts += r;
  }
  return printable(fmt::format("{} arrival={} next={} attempts={} size={} from={} to={} domain={}",
                               entry.id, isoTime(entry.arrival_ms), isoTime(entry.next_attempt_ms),
                               entry.attempts, entry.size, entry.mail_from, rcpts, entry.domain));
}

std::string formatStats(const queue::QueueStats& stats) {
  std::string out = fmt::format("total: {}\ndue now: {}\ndeferred: {}\nunreadable: {}\n"
                                "oldest: {}\nbytes: {}\n",
                                stats.total, stats.due_now, stats.deferred, stats.unreadable,
                                stats.oldest_arrival_ms == 0 ? std::string("-")
                                                             : isoTime(stats.oldest_arrival_ms),
                                stats.bytes);
  for (const auto& [domain, count] : stats.domains) {
    out += printable(fmt::format("domain {}: {}", domain, count));
    out += '\n';
  }
  return out;
}

} // namespace upesi::master
