#include "master/queue_print.hpp"

#include "common/log/escape.hpp"

#include <fmt/format.h>

#include <ctime>

namespace upesi::master {

using Json = nlohmann::ordered_json;

std::string printable(std::string_view text) {
  std::string out;
  log::appendLineSafe(out, text);
  return out;
}

std::string dumpJson(const Json& json, int indent) {
  return json.dump(indent, ' ', false, Json::error_handler_t::replace);
}

std::string isoTime(std::int64_t epoch_ms) {
  std::time_t seconds = static_cast<std::time_t>(epoch_ms / 1000);
  if (epoch_ms < 0 && epoch_ms % 1000 != 0) {
    --seconds;
  }
  std::tm tm{};
  if (::gmtime_r(&seconds, &tm) == nullptr) {
    return "?";
  }
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return n == 0 ? std::string("?") : std::string(buf, n);
}

std::string formatEntryLine(const QueueEntry& entry) {
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

nlohmann::ordered_json entryJson(const QueueEntry& entry) {
  Json json;
  json["id"] = entry.id;
  json["file"] = entry.name;
  json["unreadable"] = entry.unreadable;
  if (entry.unreadable) {
    json["error"] = entry.error;
    json["size"] = entry.size;
    return json;
  }
  json["arrival"] = isoTime(entry.arrival_ms);
  json["arrival_ms"] = entry.arrival_ms;
  json["next_attempt"] = isoTime(entry.next_attempt_ms);
  json["next_attempt_ms"] = entry.next_attempt_ms;
  json["attempts"] = entry.attempts;
  json["size"] = entry.size;
  json["mail_from"] = entry.mail_from;
  json["rcpt_to"] = entry.rcpt_to;
  json["domain"] = entry.domain;
  json["uuid"] = entry.uuid;
  return json;
}

std::string formatStats(const QueueStats& stats) {
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

nlohmann::ordered_json statsJson(const QueueStats& stats) {
  Json json;
  json["total"] = stats.total;
  json["due_now"] = stats.due_now;
  json["deferred"] = stats.deferred;
  json["unreadable"] = stats.unreadable;
  if (stats.oldest_arrival_ms == 0) {
    json["oldest_arrival"] = nullptr;
  } else {
    json["oldest_arrival"] = isoTime(stats.oldest_arrival_ms);
  }
  json["bytes"] = stats.bytes;
  json["domains"] = Json::object();
  for (const auto& [domain, count] : stats.domains) {
    json["domains"][domain] = count;
  }
  return json;
}

} // namespace upesi::master
