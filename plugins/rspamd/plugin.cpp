// rspamd: scans each message with rspamd over its HTTP protocol at data_post, with Haraka's
// rspamd.ini (haraka-plugin-rspamd): rspamd's action becomes the SMTP answer, its verdict the
// transaction's results, and its headers (X-Spam-*, milter headers, a DKIM signature) are
// added as configured. When rspamd is down, slow or answers garbage, [defer] error and timeout
// choose between a temporary failure and carrying on.
//
// The message is read into memory on the thread pool (up to max_size, larger ones are not
// scanned) and sent with its length up front; the exchange runs on the worker's loop.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include "common/http/client.hpp"
#include "common/metrics/cached_handle.hpp"
#include "common/metrics/labels.hpp"
#include "common/metrics/metrics.hpp"
#include "common/util/ip_literal.hpp"
#include "plugins/rspamd/request_fields.hpp"
#include "plugins/rspamd/settings.hpp"
#include "plugins/rspamd/verdict.hpp"

#include <fmt/format.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>

namespace upesi::plugins::rspamd {

namespace {

// Bounds the reply: rspamd's answers are a few KiB, even with every symbol's options.
constexpr std::size_t MaxReplyBytes = 1024 * 1024;

struct Scan {
  Next next;
  Connection* connection;
  std::shared_ptr<Transaction> txn;
  std::string message;
  bool read_failed = false;
  bool too_large = false;
  std::unique_ptr<http::HttpRequestHandle> request;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
};

} // namespace

class Rspamd final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    load();
    host.onConfigChange("rspamd.ini", [this] { load(); });
    registrar.registerHook(
        Hook::DataPost,
        [this](Next next, Connection& c, const HookParams&) { dataPost(std::move(next), c); }, 0,
        "hook_data_post");
  }

  void shutdown() override {
    *alive_ = false;
    scans_.clear(); // drops every request under way
  }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"rspamd.ini", "ini", iniBooleans()}};
  }

private:
  void load() {
    auto settings = readSettings(host_->config("rspamd.ini", "ini", iniBooleans()));
    for (const auto& error : settings.errors) {
      host_->log(LogLevel::Error, "rspamd.ini " + error);
    }
    if (!settings.unix_socket.empty()) {
      host_->log(LogLevel::Error, fmt::format("rspamd.ini unix_socket={}: unix sockets are not "
                                              "supported yet; using {}:{}",
                                              settings.unix_socket, settings.host, settings.port));
    }
    if (settings.scheme == "https") {
      host_->log(LogLevel::Error,
                 "rspamd.ini scheme=https: TLS to rspamd is not supported yet; speaking HTTP");
    }
    settings_ = std::make_shared<const Settings>(std::move(settings));
  }

  // Haraka's should_check: who is left alone, each reason recorded as a skip.
  bool shouldCheck(Connection& connection, Transaction& txn) {
    const auto& s = *settings_;
    const auto& remote = connection.remote();
    const auto& name = host_->pluginName();
    bool check = true;
    auto skip = [&](const char* reason) {
      txn.results().add(name, {{"skip", reason}});
      check = false;
    };
    if (!s.check_authenticated && !connection.authUser().empty()) {
      skip("authed");
    }
    if (!s.check_relay && connection.relaying()) {
      skip("relay");
    }
    if (!s.check_local_ip && remote.is_local) {
      skip("local_ip");
    }
    // Loopback is private too: checked local addresses are not skipped again as private.
    if (!s.check_private_ip && remote.is_private && !(s.check_local_ip && remote.is_local)) {
      skip("private_ip");
    }
    return check;
  }

  void dataPost(Next next, Connection& connection) {
    auto txn = connection.sharedTransaction();
    if (!txn) {
      return next();
    }
    if (!shouldCheck(connection, *txn)) {
      host_->log(LogLevel::Info, "not scanned: " + txn->results().collate(host_->pluginName()),
                 &connection);
      return next();
    }
    auto settings = settings_;
    if (txn->dataBytes() > settings->max_size) {
      txn->results().add(host_->pluginName(), {{"skip", "max_size"}});
      return next();
    }
    auto scan = std::make_shared<Scan>(Scan{next, &connection, txn, {}, false, false, nullptr});
    // The message may be spooled to disk: read off the loop, stopping past max_size.
    host_->runInThreadPool(
        [scan, limit = settings->max_size] {
          bool read = scan->txn->writeMessage([&](std::string_view chunk) {
            if (scan->message.size() + chunk.size() > limit) {
              scan->too_large = true;
              return false;
            }
            scan->message.append(chunk);
            return true;
          });
          scan->read_failed = !read && !scan->too_large;
        },
        [this, alive = alive_, scan, settings] {
          if (!*alive || !scan->next.pending()) {
            return;
          }
          if (scan->too_large) {
            scan->txn->results().add(host_->pluginName(), {{"skip", "max_size"}});
            return scan->next();
          }
          if (scan->read_failed) {
            return failed(*scan, *settings, "read", "the message could not be read", false);
          }
          resolveAndSend(scan, settings);
        });
  }

  void resolveAndSend(const std::shared_ptr<Scan>& scan,
                      const std::shared_ptr<const Settings>& settings) {
    std::string host = settings->host;
    if (host == "localhost") {
      host = "127.0.0.1"; // what rspamd listens on by default; no lookup for it
    }
    if (isIpLiteral(host)) {
      return send(scan, settings, host);
    }
    host_->dnsQuery(host, DnsType::A, [this, alive = alive_, scan, settings](DnsResult result) {
      if (!*alive || !scan->next.pending()) {
        return;
      }
      if (result.status != DnsStatus::Ok || result.records.empty()) {
        return failed(*scan, *settings, "connect",
                      fmt::format("cannot resolve {}: {}", settings->host,
                                  result.error.empty() ? "no address" : result.error),
                      false);
      }
      send(scan, settings, result.records.front().value);
    });
  }

  void send(const std::shared_ptr<Scan>& scan, const std::shared_ptr<const Settings>& settings,
            const std::string& ip) {
    sockaddr_storage address{};
    bool v6 = ip.find(':') != std::string::npos;
    int rc = v6 ? uv_ip6_addr(ip.c_str(), settings->port, reinterpret_cast<sockaddr_in6*>(&address))
                : uv_ip4_addr(ip.c_str(), settings->port, reinterpret_cast<sockaddr_in*>(&address));
    if (rc != 0) {
      return failed(*scan, *settings, "connect", fmt::format("bad address {}", ip), false);
    }
    http::ClientRequest request;
    request.method = "POST";
    request.target = settings->path;
    request.host = v6 ? fmt::format("[{}]:{}", ip, settings->port)
                      : fmt::format("{}:{}", settings->host, settings->port);
    request.headers = requestFields(*settings, *scan->connection, *scan->txn);
    request.content_length = scan->message.size();
    request.body = smtp_client::memorySource(std::move(scan->message));
    http::ClientOptions options;
    options.connect_timeout = std::chrono::seconds(settings->timeout);
    options.request_timeout = std::chrono::seconds(settings->timeout);
    options.limits.max_body = MaxReplyBytes;
    const std::uint64_t id = ++last_scan_;
    scans_[id] = scan;
    scan->request = http::sendHttpRequest(
        static_cast<uv_loop_t*>(host_->uvLoop()), reinterpret_cast<const sockaddr*>(&address),
        std::move(request), options,
        [this, alive = alive_, id, settings](http::ClientResult result) {
          if (!*alive) {
            return;
          }
          auto found = scans_.find(id);
          if (found == scans_.end()) {
            return;
          }
          auto finished = found->second;
          scans_.erase(found);
          if (finished->next.pending()) {
            answered(*finished, *settings, std::move(result));
          }
        });
  }

  void answered(Scan& scan, const Settings& settings, http::ClientResult result) {
    if (!result.ok) {
      const bool timeout = result.failure.timedOut();
      return failed(scan, settings, timeout ? "timeout" : "error", result.failure.detail, timeout);
    }
    if (result.response.status != 200) {
      auto reply = parseReply(result.response.body);
      return failed(scan, settings, "error",
                    fmt::format("HTTP {}{}", result.response.status,
                                reply.error.empty() ? "" : ": " + reply.error),
                    false);
    }
    auto reply = parseReply(result.response.body);
    if (!reply.ok) {
      return failed(scan, settings, "garbage", reply.error.empty() ? "an empty reply" : reply.error,
                    false);
    }
    apply(scan, settings, reply.data);
  }

  void apply(Scan& scan, const Settings& settings, const nlohmann::json& data) {
    Transaction& txn = *scan.txn;
    const auto& name = host_->pluginName();
    auto clean = summary(data);
    clean["emit"] = true;
    clean["time"] =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - scan.start).count();
    txn.results().add(name, clean);
    if (auto symbols = data.find("symbols"); symbols != data.end()) {
      txn.results().add(name, {{"symbols", *symbols}}); // rspamd's own, as Haraka keeps them
    }
    host_->log(LogLevel::Info, txn.results().collate(name), scan.connection);

    auto found = data.find("action");
    const std::string action =
        found != data.end() && found->is_string() ? found->get<std::string>() : std::string();
    if (settings.rewrite_subject_enabled && action == "rewrite subject") {
      const std::string subject = rewrittenSubject(settings, data, txn.header("Subject"));
      txn.removeHeader("Subject");
      txn.addHeader("Subject", subject);
    }
    const auto decision = decide(settings, data, !scan.connection->authUser().empty());
    if (decision.code != Code::Cont) {
      return scan.next(decision.code, decision.message);
    }
    if (settings.dkim_enabled) {
      if (auto signature = data.find("dkim-signature");
          signature != data.end() && signature->is_string()) {
        txn.addHeader("DKIM-Signature", signature->get<std::string>());
      }
    }
    if (settings.rmilter_headers_enabled) {
      milterHeaders(txn, data);
    }
    spamHeaders(txn, settings, data, action);
    scan.next();
  }

  // rspamd's milter_headers module: fields to remove, then fields to add (a value, an object
  // with a value, or an array of either).
  void milterHeaders(Transaction& txn, const nlohmann::json& data) {
    auto milter = data.find("milter");
    if (milter == data.end() || !milter->is_object()) {
      return;
    }
    if (auto remove = milter->find("remove_headers");
        remove != milter->end() && remove->is_object()) {
      for (const auto& [field, how] : remove->items()) {
        txn.removeHeader(field);
      }
    }
    auto add = milter->find("add_headers");
    if (add == milter->end() || !add->is_object()) {
      return;
    }
    auto addValue = [&txn](const std::string& field, const nlohmann::json& value) {
      const auto& text = value.is_object() && value.contains("value") ? value["value"] : value;
      if (text.is_string()) {
        txn.addHeader(field, text.get<std::string>());
      } else if (text.is_number()) {
        txn.addHeader(field, jsNumber(text));
      }
    };
    for (const auto& [field, value] : add->items()) {
      if (value.is_array()) {
        for (const auto& item : value) {
          addValue(field, item);
        }
      } else {
        addValue(field, value);
      }
    }
  }

  void spamHeaders(Transaction& txn, const Settings& settings, const nlohmann::json& data,
                   const std::string& action) {
    const bool wanted = settings.add_headers == AddHeaders::Always ||
                        (settings.add_headers == AddHeaders::Sometimes && action == "add header");
    if (!wanted) {
      return;
    }
    const nlohmann::json score = data.contains("score") ? data["score"] : nlohmann::json(0);
    auto replace = [&txn](const std::string& field, const std::string& value) {
      if (!field.empty()) {
        txn.removeHeader(field);
        txn.addHeader(field, value);
      }
    };
    replace(settings.header_bar, spamBar(settings, score.is_number() ? score.get<double>() : 0));
    replace(settings.header_report, symbolReport(data.value("symbols", nlohmann::json::object())));
    replace(settings.header_score, jsNumber(score));
  }

  // rspamd could not give a verdict: log, count, record, and answer as [defer] says.
  void failed(Scan& scan, const Settings& settings, const char* reason, const std::string& detail,
              bool timeout) {
    scan.txn->results().add(host_->pluginName(), {{"err", timeout ? "timeout" : detail}});
    host_->log(LogLevel::Error,
               fmt::format("no verdict from rspamd at {}:{} ({}): {}", settings.host, settings.port,
                           reason, detail),
               scan.connection);
    failureCounter(reason).add();
    if (timeout ? settings.defer_timeout : settings.defer_error) {
      return scan.next(Code::DenySoft, timeout ? "Rspamd scan timeout" : "Rspamd scan error");
    }
    scan.next();
  }

  const metrics::Counter& failureCounter(const std::string& reason) {
    return failure_counters_[reason].get([&reason](metrics::Metrics& m) {
      return m.counter(metrics::MetricId::FilterFailures, metrics::labelPair("filter", "rspamd") +
                                                              "," +
                                                              metrics::labelPair("reason", reason));
    });
  }

  Host* host_ = nullptr;
  std::shared_ptr<const Settings> settings_;
  std::map<std::uint64_t, std::shared_ptr<Scan>> scans_; // exchanges under way
  std::uint64_t last_scan_ = 0;
  std::map<std::string, metrics::CachedHandle<metrics::Counter>> failure_counters_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace upesi::plugins::rspamd

std::unique_ptr<upesi::Plugin> upesi_builtin_rspamd() {
  return std::make_unique<upesi::plugins::rspamd::Rspamd>();
}
