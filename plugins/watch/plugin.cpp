// watch: a live web page of the SMTP traffic (Haraka's watch plugin). Each connection is a row,
// each phase a cell coloured by what the plugins decided; the page is served by this plugin at
// /watch/ and fed over a websocket at /watch/ws. Events go through a ring every worker maps
// (event_ring.hpp), so one page sees the connections of all workers.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/http.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>
#include <upesi/text.hpp>

#include "common/util/cidr.hpp"
#include "plugins/watch/assets.hpp"
#include "plugins/watch/event_ring.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace upesi::plugins::watch {
namespace {

constexpr std::uint64_t PollMs = 100;
constexpr std::int64_t WatchedForMs = 3000; // how long writers keep writing after a poll
constexpr std::size_t HistoryEvents = 400;  // replayed to a page when it opens
constexpr std::size_t MaxBrowsers = 64;     // per worker

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The cell a denied hook colours.
const char* phaseOf(Hook hook) {
  switch (hook) {
  case Hook::ConnectInit:
  case Hook::LookupRdns:
  case Hook::Connect:
    return "remote";
  case Hook::Helo:
  case Hook::Ehlo:
    return "helo";
  case Hook::Auth:
    return "auth";
  case Hook::Mail:
    return "mail";
  case Hook::Rcpt:
  case Hook::RcptOk:
    return "rcpt";
  case Hook::Data:
  case Hook::DataPost:
  case Hook::MaxDataExceeded:
    return "data";
  case Hook::Queue:
  case Hook::QueueOutbound:
  case Hook::QueueOk:
    return "queue";
  default:
    return "other";
  }
}

std::string resultsSummary(Connection& connection) {
  nlohmann::json summary = nlohmann::json::object();
  auto collect = [&summary](const Results& results) {
    for (const auto& [plugin, value] : results.all().items()) {
      if (auto text = results.collate(plugin); !text.empty()) {
        summary[plugin] = text;
      }
    }
  };
  collect(connection.results());
  if (auto* txn = connection.transaction()) {
    collect(txn->results());
  }
  return summary.empty() ? std::string() : summary.dump();
}

} // namespace

class Watch final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    loadConfig();
    host.onConfigChange("watch.ini", [this] { loadConfig(); });

    registrar.registerHook(Hook::InitChild, [this](Next next, Connection&, const HookParams&) {
      openRing();
      next();
    });
    // nodes=0: the one process serves; it runs init_master, not init_child.
    registrar.registerHook(Hook::InitMaster, [this](Next next, Connection&, const HookParams&) {
      if (host_->uvLoop() != nullptr) {
        openRing();
      }
      next();
    });
    registrar.registerHook(Hook::InitHttp,
                           [this](Next next, Connection&, const HookParams& params) {
                             addRoutes(*params.http);
                             next();
                           });
    registrar.registerHook(Hook::InitWss, [this](Next next, Connection&, const HookParams& params) {
      params.wss->endpoint(base_ + "ws", handlers());
      next();
    });
    watchHooks(registrar);
  }

  void shutdown() override {
    for (auto& browser : browsers_) {
      browser->close(1001, "server going away");
    }
    browsers_.clear();
    if (timer_ != 0) {
      host_->clearTimeout(timer_);
      timer_ = 0;
    }
  }

  std::vector<ConfigFileSpec> configFiles() const override { return {{"watch.ini", "ini", {}}}; }

private:
  void loadConfig() {
    auto ini = host_->config("watch.ini", "ini");
    const auto& main = ini.contains("main") ? ini["main"] : nlohmann::json::object();
    sampling_ = 100;
    if (main.contains("sampling") && main["sampling"].is_number()) {
      sampling_ = std::clamp(main["sampling"].get<double>(), 0.0, 100.0);
    }
    ignored_.clear();
    std::string ignore = main.contains("ignore") && main["ignore"].is_string()
                             ? main["ignore"].get<std::string>()
                             : std::string();
    for (const auto& item : text::splitList(ignore)) {
      if (auto cidr = util::Cidr::parse(item)) {
        ignored_.push_back(*cidr);
      } else {
        host_->log(LogLevel::Error, "watch.ini ignore: \"" + item + "\" is not an address");
      }
    }
  }

  void openRing() {
    auto ini = host_->config("smtp.ini", "ini");
    std::filesystem::path spool = host_->installDir() / "spool";
    if (ini.contains("main") && ini["main"].contains("spool_dir") &&
        ini["main"]["spool_dir"].is_string()) {
      spool = ini["main"]["spool_dir"].get<std::string>();
    }
    auto ring = EventRing::open(spool / "watch.ring");
    if (!ring) {
      host_->log(LogLevel::Warn, "the page shows this worker's connections only: " + ring.error());
      return;
    }
    ring_.emplace(std::move(ring).value());
  }

  // Is anyone looking? One load of a shared word when nobody is.
  bool watched() const { return ring_ ? ring_->watched(nowMs()) : !browsers_.empty(); }

  void emit(Connection& connection, const char* phase, std::string value, const char* state,
            std::string detail = {}) {
    if (!watched() || connection.notes().value("watch_hidden", false)) {
      return;
    }
    nlohmann::json event = {{"u", connection.uuid()}, {"p", phase}, {"s", state}, {"t", nowMs()}};
    if (!value.empty()) {
      event["v"] = std::move(value);
    }
    if (!detail.empty()) {
      event["d"] = std::move(detail);
    }
    std::string text = event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (ring_) {
      ring_->publish(text);
    } else {
      broadcast(text);
    }
  }

  void watchHooks(Registrar& registrar) {
    constexpr int First = MinHookPriority;
    registrar.registerHook(
        Hook::Connect,
        [this](Next next, Connection& c, const HookParams&) {
          if (hidden(c)) {
            c.notes()["watch_hidden"] = true;
          }
          emit(c, "remote", c.remote().ip, "wait", c.remote().host);
          next();
        },
        First, "watch_connect");
    for (Hook hook : {Hook::Helo, Hook::Ehlo}) {
      registrar.registerHook(
          hook,
          [this](Next next, Connection& c, const HookParams& params) {
            emit(c, "remote", c.remote().ip, "pass", c.remote().host);
            emit(c, "helo", std::string(params.host), "wait");
            next();
          },
          First, "watch_helo");
    }
    registrar.registerHook(
        Hook::Mail,
        [this](Next next, Connection& c, const HookParams& params) {
          emit(c, "helo", c.helloHost(), "pass");
          if (c.tls()) {
            emit(c, "tls", c.tlsInfo().version, "pass", c.tlsInfo().cipher);
          }
          if (!c.authUser().empty()) {
            emit(c, "auth", c.authUser(), "pass");
          }
          emit(c, "mail", params.address ? "<" + params.address->address() + ">" : "", "wait");
          next();
        },
        First, "watch_mail");
    registrar.registerHook(
        Hook::Rcpt,
        [this](Next next, Connection& c, const HookParams& params) {
          emit(c, "mail", {}, "pass");
          emit(c, "rcpt", params.address ? "<" + params.address->address() + ">" : "", "wait");
          next();
        },
        First, "watch_rcpt");
    registrar.registerHook(
        Hook::RcptOk,
        [this](Next next, Connection& c, const HookParams& params) {
          emit(c, "rcpt", params.address ? "<" + params.address->address() + ">" : "", "pass");
          next();
        },
        First, "watch_rcpt_ok");
    registrar.registerHook(
        Hook::Data,
        [this](Next next, Connection& c, const HookParams&) {
          emit(c, "data", {}, "wait");
          next();
        },
        First, "watch_data");
    registrar.registerHook(
        Hook::DataPost,
        [this](Next next, Connection& c, const HookParams&) {
          auto* txn = c.transaction();
          emit(c, "data", txn ? std::to_string(txn->dataBytes()) + " bytes" : "", "pass");
          next();
        },
        First, "watch_data_post");
    for (Hook hook : {Hook::Queue, Hook::QueueOutbound}) {
      registrar.registerHook(
          hook,
          [this](Next next, Connection& c, const HookParams&) {
            emit(c, "queue", {}, "wait", resultsSummary(c));
            next();
          },
          First, "watch_queue");
    }
    registrar.registerHook(
        Hook::QueueOk,
        [this](Next next, Connection& c, const HookParams& params) {
          emit(c, "queue", std::string(params.message), "pass", resultsSummary(c));
          next();
        },
        First, "watch_queue_ok");
    registrar.registerHook(
        Hook::Deny,
        [this](Next next, Connection& c, const HookParams& params) {
          if (params.deny != nullptr) {
            const auto& deny = *params.deny;
            const bool soft = deny.code == Code::DenySoft || deny.code == Code::DenySoftDisconnect;
            std::string why = deny.plugin;
            if (!deny.message.empty()) {
              why += (why.empty() ? "" : ": ") + deny.message.front();
            }
            emit(c, phaseOf(deny.hook), {}, soft ? "soft" : "fail", why);
          }
          next(); // watching never changes a verdict
        },
        First, "watch_deny");
    registrar.registerHook(
        Hook::Disconnect,
        [this](Next next, Connection& c, const HookParams&) {
          emit(c, "end", {}, "info", resultsSummary(c));
          next();
        },
        First, "watch_disconnect");
  }

  bool hidden(const Connection& c) {
    auto ip = util::IpAddress::parse(c.remote().ip);
    if (ip && std::any_of(ignored_.begin(), ignored_.end(),
                          [&](const util::Cidr& cidr) { return cidr.contains(*ip); })) {
      return true;
    }
    if (sampling_ >= 100) {
      return false;
    }
    return std::uniform_real_distribution<double>(0, 100)(random_) >= sampling_;
  }

  void addRoutes(HttpRouter& router) {
    router.route("GET", base_.substr(0, base_.size() - 1),
                 [this](const HttpRequest& request, const HttpReplyPtr& reply) {
                   // "/watch" -> "/watch/", keeping the query (it may carry the token).
                   HttpResponse moved = HttpResponse::text(301, "moved to " + base_ + "\n");
                   moved.headers.emplace_back(
                       "Location", base_ + (request.query.empty() ? "" : "?" + request.query));
                   reply->send(std::move(moved));
                 });
    router.prefix("GET", base_, [this](const HttpRequest& request, const HttpReplyPtr& reply) {
      const Asset* asset = findAsset(request.path.substr(base_.size()));
      if (asset == nullptr) {
        reply->send(HttpResponse::text(404, "404 Not Found\n"));
        return;
      }
      HttpResponse response{
          200, {{"Content-Type", std::string(asset->type)}}, std::string(asset->body)};
      // Everything is ours: no script or style from anywhere else may run on the page.
      response.headers.emplace_back("Content-Security-Policy",
                                    "default-src 'self'; connect-src 'self' ws: wss:");
      response.headers.emplace_back("Cache-Control", "no-cache");
      response.headers.emplace_back("X-Content-Type-Options", "nosniff");
      reply->send(std::move(response));
    });
  }

  WebSocketHandlers handlers() {
    WebSocketHandlers h;
    h.open = [this](const WebSocketPtr& browser) {
      if (browsers_.size() >= MaxBrowsers) {
        browser->close(1013, "too many pages watching this worker");
        return;
      }
      browsers_.push_back(browser);
      sendHistory(*browser);
      startPolling();
    };
    h.message = [](const WebSocketPtr&, std::string, bool) {}; // the page only listens
    h.closed = [this](const WebSocketPtr& browser, std::uint16_t) {
      std::erase(browsers_, browser);
    };
    return h;
  }

  void sendHistory(WebSocket& browser) {
    if (!ring_) {
      return;
    }
    std::uint64_t head = ring_->head();
    std::uint64_t cursor = head > HistoryEvents ? head - HistoryEvents : 0;
    std::uint64_t lost = 0;
    for (const auto& event : ring_->read(cursor, HistoryEvents, lost)) {
      if (!browser.sendText(event)) {
        break;
      }
    }
  }

  void startPolling() {
    if (timer_ != 0) {
      return;
    }
    if (ring_) {
      cursor_ = ring_->head();
      ring_->watchUntil(nowMs() + WatchedForMs);
    }
    timer_ = host_->setTimeout(PollMs, [this] { poll(); });
  }

  void poll() {
    timer_ = 0;
    if (browsers_.empty()) {
      return; // writers stop once WatchedForMs has passed
    }
    if (ring_) {
      ring_->watchUntil(nowMs() + WatchedForMs);
      std::uint64_t lost = 0;
      for (const auto& event : ring_->read(cursor_, 4 * HistoryEvents, lost)) {
        broadcast(event);
      }
    }
    timer_ = host_->setTimeout(PollMs, [this] { poll(); });
  }

  void broadcast(const std::string& event) {
    for (std::size_t i = 0; i < browsers_.size(); ++i) {
      // A page that does not keep up loses this event; the worker keeps nothing for it.
      (void)browsers_[i]->sendText(event);
    }
  }

  Host* host_ = nullptr;
  std::string base_ = "/watch/";
  double sampling_ = 100;
  std::vector<util::Cidr> ignored_;
  std::mt19937 random_{std::random_device{}()};
  std::optional<EventRing> ring_;
  std::uint64_t cursor_ = 0;
  std::vector<WebSocketPtr> browsers_;
  std::uint64_t timer_ = 0;
};

} // namespace upesi::plugins::watch

std::unique_ptr<upesi::Plugin> upesi_builtin_watch() {
  return std::make_unique<upesi::plugins::watch::Watch>();
}
