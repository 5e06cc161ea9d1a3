#include "common/queue/queue_json.hpp"

#include <ctime>

namespace upesi::queue {

using Json = nlohmann::ordered_json;

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

Json entryJson(const QueueEntry& entry) {
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

Json statsJson(const QueueStats& stats) {
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

} // namespace upesi::queue
