#include "worker/http/api_routes.hpp"

#include "common/log/escape.hpp"
#include "common/log/logger.hpp"
#include "common/queue/queue_actions.hpp"
#include "common/queue/queue_file_name.hpp"
#include "common/queue/queue_json.hpp"
#include "common/queue/queue_model.hpp"
#include "common/util/clock.hpp"
#include "common/util/thread_pool.hpp"
#include "worker/http/inject_request.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <memory>
#include <string_view>

namespace upesi::worker::http {
namespace {

using Json = nlohmann::ordered_json;
using Services = std::shared_ptr<const ApiServices>;

constexpr std::string_view Prefix = "/api/v1/";
constexpr std::size_t DefaultLimit = 1000;
constexpr std::size_t MaxLimit = 100000;

// Dumped with U+FFFD for bytes that are not UTF-8: names and addresses come from disk.
HttpResponse answer(int status, const Json& body) {
  return HttpResponse{
      status, {{"Content-Type", "application/json"}}, queue::dumpJson(body, -1) + "\n"};
}

HttpResponse failure(int status, const std::string& message) {
  return answer(status, Json{{"error", message}});
}

HttpResponse wrongMethod(std::string_view allowed) {
  auto response = failure(405, fmt::format("use {}", allowed));
  response.headers.emplace_back("Allow", std::string(allowed));
  return response;
}

Result<std::size_t> listLimit(const HttpRequest& request) {
  auto text = request.queryParam("limit");
  if (!text) {
    return DefaultLimit;
  }
  std::size_t value = 0;
  const char* end = text->data() + text->size();
  auto [stop, ec] = std::from_chars(text->data(), end, value);
  if (ec != std::errc{} || stop != end || value == 0 || value > MaxLimit) {
    return Error{fmt::format("limit must be a number from 1 to {}", MaxLimit)};
  }
  return value;
}

// `work` runs on the thread pool (it reads or changes the queue directory); its answer is sent
// from the loop. An exception there would end the process: it becomes a 500.
void answerOffLoop(const Services& api, HttpReplyPtr reply, std::function<HttpResponse()> work) {
  auto response = std::make_shared<HttpResponse>();
  runOnThreadPool(
      api->loop,
      [response, work = std::move(work)] {
        try {
          *response = work();
        } catch (const std::exception& e) {
          *response = failure(500, e.what());
        }
      },
      [response, reply = std::move(reply)] { reply->send(std::move(*response)); });
}

// The queue may hold millions of files: these read it one file at a time and keep only what
// they answer with.
HttpResponse listQueue(const std::string& dir, std::size_t limit) {
  auto listing = queue::listQueue(dir, limit);
  if (!listing) {
    return failure(500, listing.error());
  }
  Json messages = Json::array();
  for (const auto& entry : listing->entries) {
    messages.push_back(queue::entryJson(entry));
  }
  return answer(200, Json{{"messages", std::move(messages)},
                          {"total", listing->total},
                          {"truncated", listing->total > listing->entries.size()}});
}

HttpResponse queueStats(const std::string& dir) {
  auto stats = queue::queueStatsOf(dir, epochMs());
  if (!stats) {
    return failure(500, stats.error());
  }
  return answer(200, queue::statsJson(*stats));
}

// As `upesi --qdelete ID`: the file's lock first, so a message being delivered is left alone.
HttpResponse deleteMessage(const std::string& dir, const std::string& id, const std::string& ip) {
  auto entries = queue::entriesNamedBy(dir, id);
  if (!entries) {
    return failure(500, entries.error());
  }
  auto name = queue::selectById(*entries, id);
  if (!name) {
    const bool ambiguous = std::any_of(entries->begin(), entries->end(),
                                       [&id](const queue::QueueEntry& e) { return e.uid == id; });
    return failure(ambiguous ? 400 : 404, name.error());
  }
  auto result = queue::deleteQueued(dir, *name);
  switch (result.outcome) {
  case queue::ActionOutcome::Done:
    log::notice({}, "HTTP API: {} deleted {} from the queue", ip, log::escaped(*name));
    return answer(200, Json{{"deleted", *name}, {"id", queue::queueIdOf(*name)}});
  case queue::ActionOutcome::Busy:
    return failure(409, fmt::format("{}: {}", *name, queue::BusyText));
  case queue::ActionOutcome::Gone:
    return failure(404, fmt::format("{}: {}", *name, queue::GoneText));
  case queue::ActionOutcome::Failed:
    break;
  }
  return failure(500, result.message);
}

void inject(const Services& api, const HttpRequest& request, HttpReplyPtr reply) {
  auto parsed = parseInjectRequest(request.body, api->max_recipients);
  if (!parsed) {
    reply->send(failure(400, parsed.error()));
    return;
  }
  if (!api->send_email) {
    reply->send(failure(503, "no outbound queue in this process"));
    return;
  }
  // Answered from the engine's completion callback, which runs once every queue file is
  // fsynced and renamed and the directory fsynced: a 201 means the message is durable.
  api->send_email(parsed->from, parsed->to, std::move(parsed->message), std::move(parsed->notes),
                  [reply, ip = request.remote_ip](Code code, const std::string& text,
                                                  const std::vector<std::string>& files) {
                    if (code != Code::Ok || files.empty()) {
                      log::warn({}, "HTTP API: inject from {} not queued: {}", ip,
                                log::escaped(text));
                      reply->send(failure(code == Code::DenySoft ? 503 : 500, text));
                      return;
                    }
                    Json ids = Json::array();
                    std::string listed;
                    for (const auto& file : files) {
                      ids.push_back(queue::queueIdOf(file));
                      listed += (listed.empty() ? "" : ", ") + queue::queueIdOf(file);
                    }
                    log::info({}, "HTTP API: inject from {} queued as {} ({})", ip, listed, text);
                    reply->send(answer(201, Json{{"queued", true},
                                                 {"id", ids.front()},
                                                 {"ids", std::move(ids)},
                                                 {"message", text}}));
                  });
}

void dispatch(const Services& api, const HttpRequest& request, const HttpReplyPtr& reply) {
  if (!api->token_set) {
    reply->send(failure(403, "the HTTP API is off: set token= in http.ini"));
    return;
  }
  const std::string_view path = std::string_view(request.path).substr(Prefix.size());
  const std::string& method = request.method;
  const std::string dir = api->queue_dir.string();
  if (path == "queue") {
    if (method != "GET") {
      reply->send(wrongMethod("GET"));
      return;
    }
    auto limit = listLimit(request);
    if (!limit) {
      reply->send(failure(400, limit.error()));
      return;
    }
    answerOffLoop(api, reply, [dir, limit = *limit] { return listQueue(dir, limit); });
  } else if (path == "queue/stats") {
    if (method != "GET") {
      reply->send(wrongMethod("GET"));
      return;
    }
    answerOffLoop(api, reply, [dir] { return queueStats(dir); });
  } else if (path == "queue/flush") {
    if (method != "POST") {
      reply->send(wrongMethod("POST"));
      return;
    }
    log::notice({}, "HTTP API: {} asked for an outbound queue flush", request.remote_ip);
    api->flush_all();
    reply->send(answer(202, Json{{"flushing", true}}));
  } else if (path.starts_with("queue/") && path.find('/', 6) == std::string_view::npos) {
    if (method != "DELETE") {
      reply->send(wrongMethod("DELETE"));
      return;
    }
    std::string id = HttpRequest::decode(path.substr(6));
    if (id.empty() || id.find('/') != std::string::npos || queue::isTempName(id)) {
      reply->send(failure(404, "no such queued message"));
      return;
    }
    answerOffLoop(api, reply, [dir, id = std::move(id), ip = request.remote_ip] {
      return deleteMessage(dir, id, ip);
    });
  } else if (path == "inject") {
    if (method != "POST") {
      reply->send(wrongMethod("POST"));
      return;
    }
    inject(api, request, reply);
  } else {
    reply->send(failure(404, "no such API path"));
  }
}

} // namespace

void addApiRoutes(Router& router, ApiServices services) {
  auto api = std::make_shared<const ApiServices>(std::move(services));
  router.reservePrefix(Prefix, [api](const HttpRequest& request, const HttpReplyPtr& reply) {
    dispatch(api, request, reply);
  });
}

} // namespace upesi::worker::http
