// spamassassin: scores each message with SpamAssassin's spamd at data_post, as Haraka's
// spamassassin plugin does: same spamassassin.ini keys and defaults, same X-Spam-* headers,
// Precedence and subject munging, the same replies and results. The message streams to spamd
// (spamd_exchange.cpp) without blocking the loop or being held whole in memory.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include "common/config/ini_values.hpp"
#include "common/dns/mx_resolver.hpp"
#include "plugins/spamassassin/spamd_reply.hpp"
#include "plugins/support/filter_failures.hpp"
#include "plugins/support/json_notes.hpp"
#include "plugins/support/scanner_checks.hpp"
#include "plugins/support/scanner_exchange.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace upesi::plugins::spamassassin {

using config::iniFlag;
using config::iniString;

namespace {

const std::vector<std::string> Booleans = {"+main.add_headers",    "+main.modern_status_syntax",
                                           "+check.authenticated", "+check.private_ip",
                                           "+check.local_ip",      "+check.relay",
                                           "-defer.error",         "-defer.connect_timeout",
                                           "-defer.scan_timeout"};

constexpr std::uint16_t SpamdPort = 783;
constexpr std::size_t MaxAnswer = 1024 * 1024; // the rewritten header of one message

struct Settings {
  std::string spamd_socket = "localhost:783";
  std::string spamd_user;
  std::uint64_t max_size = 500000;
  std::optional<double> reject_threshold;
  std::optional<double> relay_reject_threshold;
  std::optional<double> munge_subject_threshold;
  std::string subject_prefix = "*** SPAM ***";
  std::string old_headers_action = "rename";
  std::string spamc_auth_header = "X-Haraka-Relay";
  bool add_headers = true;
  bool modern_status_syntax = true;
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds results_timeout{300};
  bool defer_error = false;
  bool defer_connect_timeout = false;
  bool defer_scan_timeout = false;
};

// A number from the ini ("10", "7.5"); nullopt when absent, empty or not a number.
std::optional<double> number(const nlohmann::json& ini, const char* key) {
  const auto text = iniString(ini, "main", key);
  if (text.empty()) {
    return std::nullopt;
  }
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0') {
    return std::nullopt;
  }
  return value;
}

// Haraka's `parseInt(x) || fallback`: a positive whole number of seconds.
std::chrono::seconds seconds(const nlohmann::json& ini, const char* key, int fallback) {
  auto value = config::iniInteger(ini, "main", key);
  return std::chrono::seconds(value && *value > 0 ? *value : fallback);
}

double scoreOf(const std::string& text) {
  return std::strtod(text.c_str(), nullptr);
}

// The threshold text for logs, as JavaScript prints a number ("10", "7.5") or undefined.
std::string shown(std::optional<double> value) {
  return value ? fmt::format("{}", *value) : "undefined";
}

nlohmann::json asNote(const SpamdReply& reply) {
  nlohmann::json headers = nlohmann::json::object();
  for (const auto& [key, value] : reply.headers) {
    headers[key] = value;
  }
  nlohmann::json note = {{"headers", headers}, {"line0", reply.line0}};
  if (reply.flag) {
    note["flag"] = *reply.flag;
    note["score"] = reply.score;
    note["reqd"] = reply.required;
  }
  if (!reply.tests.empty()) {
    note["tests"] = reply.tests;
  }
  return note;
}

struct Scan {
  Next next{std::weak_ptr<Next::Target>(), 0};
  std::shared_ptr<Transaction> txn;
  Connection* connection = nullptr; // alive while next is pending
  std::unique_ptr<ScannerExchange> exchange;
  std::chrono::steady_clock::time_point start;
  bool relaying = false;
};

} // namespace

class SpamAssassin final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    failures_.emplace(host.pluginName());
    resolver_.emplace([&host](const std::string& name, DnsType type, DnsCallback done) {
      host.dnsQuery(name, type, std::move(done));
    });
    load();
    host.onConfigChange("spamassassin.ini", [this] { load(); });
    registrar.registerHook(
        Hook::DataPost, [this](Next next, Connection& c, const HookParams&) { scan(next, c); }, 0,
        "spamassassin_data_post");
  }

  void shutdown() override { scans_.clear(); }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"spamassassin.ini", "ini", Booleans}};
  }

private:
  void load() {
    cfg_ = host_->config("spamassassin.ini", "ini", Booleans);
    Settings s;
    auto text = [&](const char* key, std::string& out) {
      if (auto value = iniString(cfg_, "main", key); !value.empty()) {
        out = value; // an empty value keeps the default, as in Haraka
      }
    };
    text("spamd_socket", s.spamd_socket);
    text("spamd_user", s.spamd_user);
    text("subject_prefix", s.subject_prefix);
    text("old_headers_action", s.old_headers_action);
    text("spamc_auth_header", s.spamc_auth_header);
    if (auto max = number(cfg_, "max_size")) {
      s.max_size = *max > 0 ? static_cast<std::uint64_t>(*max) : 0;
    }
    s.reject_threshold = number(cfg_, "reject_threshold");
    s.relay_reject_threshold = number(cfg_, "relay_reject_threshold");
    s.munge_subject_threshold = number(cfg_, "munge_subject_threshold");
    s.add_headers = iniFlag(cfg_, "main", "add_headers");
    s.modern_status_syntax = iniFlag(cfg_, "main", "modern_status_syntax");
    s.connect_timeout = seconds(cfg_, "connect_timeout", 30);
    s.results_timeout = seconds(cfg_, "results_timeout", 300);
    s.defer_error = iniFlag(cfg_, "defer", "error");
    s.defer_connect_timeout = iniFlag(cfg_, "defer", "connect_timeout");
    s.defer_scan_timeout = iniFlag(cfg_, "defer", "scan_timeout");
    if (auto endpoint = parseScannerEndpoint(s.spamd_socket, SpamdPort); !endpoint) {
      host_->log(LogLevel::Error, fmt::format("spamassassin.ini spamd_socket={}: {}",
                                              s.spamd_socket, endpoint.error()));
    }
    if (s.spamd_user == "all-recipients") {
      host_->log(LogLevel::Warn, "spamassassin.ini spamd_user=all-recipients is not implemented "
                                 "(nor in Haraka): scanning as the first recipient");
    }
    settings_ = std::move(s);
  }

  // Haraka's should_skip: every reason is recorded.
  bool skip(Connection& connection, Transaction& txn) {
    const auto& name = host_->pluginName();
    bool skipped = false;
    if (settings_.max_size > 0 && txn.dataBytes() > settings_.max_size) {
      txn.results().add(name, {{"skip", fmt::format("size {} exceeds max: {}", txn.dataBytes(),
                                                    settings_.max_size)}});
      skipped = true;
    }
    for (const auto& reason : uncheckedReasons(cfg_, connection)) {
      txn.results().add(name, {{"skip", reason}});
      skipped = true;
    }
    return skipped;
  }

  std::string username(Transaction& txn) const {
    if (const auto& note = member(txn.notes(), "spamd_user");
        note.is_string() && !note.get<std::string>().empty()) {
      return note.get<std::string>();
    }
    if (settings_.spamd_user.empty()) {
      return "default";
    }
    if (settings_.spamd_user == "first-recipient" || settings_.spamd_user == "all-recipients") {
      return txn.rcptTo().empty() ? "default" : txn.rcptTo().front().address();
    }
    return settings_.spamd_user;
  }

  void scan(const Next& next, Connection& connection) {
    auto txn = connection.sharedTransaction();
    if (!txn || skip(connection, *txn)) {
      return next();
    }
    auto endpoint = parseScannerEndpoint(settings_.spamd_socket, SpamdPort);
    if (!endpoint) {
      return failed(next, *txn, "error", "socket error: " + endpoint.error(), settings_.defer_error,
                    "spamd scan error");
    }
    txn->removeHeader(settings_.spamc_auth_header); // only we may say a client relays
    // Lines spamd sees at the top of the message (SpamAssassin's envelope rules read them).
    std::string pseudo = fmt::format("X-Envelope-From: {}\r\nX-Haraka-UUID: {}\r\n",
                                     txn->mailFrom().address(), txn->uuid());
    if (connection.relaying()) {
      pseudo += settings_.spamc_auth_header + ": true\r\n";
    }
    ScannerRequest request;
    request.endpoint = *endpoint;
    request.connect_timeout = settings_.connect_timeout;
    request.idle_timeout = settings_.results_timeout;
    request.head = [user = username(*txn), pseudo](std::uint64_t size) {
      return fmt::format("HEADERS SPAMC/1.5\r\nContent-length: {}\r\nUser: {}\r\n\r\n{}",
                         size + pseudo.size(), user, pseudo);
    };
    request.pump.measure = true;
    request.max_answer = MaxAnswer;
    request.complete = spamdReplyComplete;

    auto job = std::make_shared<Scan>();
    job->next = next;
    job->txn = txn;
    job->start = std::chrono::steady_clock::now();
    job->relaying = connection.relaying();
    job->connection = &connection;
    Scan* raw = job.get();
    job->exchange = std::make_unique<ScannerExchange>(
        *host_, *resolver_, txn, std::move(request),
        [this, raw](ScannerOutcome outcome) { answered(raw, std::move(outcome)); });
    scans_.insert(job);
    raw->exchange->start();
  }

  void answered(Scan* raw, ScannerOutcome outcome) {
    std::shared_ptr<Scan> job;
    for (const auto& s : scans_) {
      if (s.get() == raw) {
        job = s;
      }
    }
    if (!job) {
      return;
    }
    scans_.erase(job);
    auto& txn = *job->txn;
    if (!job->next.pending()) {
      return; // timed out or the client left: the message is no longer ours to change
    }
    using Failure = ScannerOutcome::Failure;
    switch (outcome.failure) {
    case Failure::None:
      break;
    case Failure::ConnectTimeout:
      return failed(job->next, txn, "connect_timeout", "socket connect timeout",
                    settings_.defer_connect_timeout, "spamd connect timeout");
    case Failure::Timeout:
      return failed(job->next, txn, "timeout", "timeout waiting for results",
                    settings_.defer_scan_timeout, "spamd scan timeout");
    case Failure::Connect:
      return failed(job->next, txn, "connect", "socket error: " + outcome.detail,
                    settings_.defer_error, "spamd scan error");
    default:
      return failed(job->next, txn, "error", "socket error: " + outcome.detail,
                    settings_.defer_error, "spamd scan error");
    }
    SpamdReply reply = parseSpamdReply(outcome.answer);
    if (reply.status != 0) {
      return failed(job->next, txn, "error", "spamd answered: " + reply.line0,
                    settings_.defer_error, "spamd scan error");
    }
    judge(job->next, *job->connection, *job, reply);
  }

  void failed(const Next& next, Transaction& txn, const std::string& cause, const std::string& err,
              bool defer, const char* reply) {
    txn.results().add(host_->pluginName(), {{"err", err}});
    failures_->count(cause);
    host_->log(LogLevel::Error,
               fmt::format("{} {}: {}", txn.uuid(), err,
                           defer ? "deferring the message" : "accepting it unscanned"));
    if (defer) {
      return next(Code::DenySoft, reply);
    }
    next();
  }

  // Haraka's handle_spamassassin.
  void judge(const Next& next, Connection& connection, const Scan& job, const SpamdReply& reply) {
    auto& txn = *job.txn;
    const auto& name = host_->pluginName();
    txn.notes()["spamassassin"] = asNote(reply);
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - job.start).count();
    nlohmann::json timing = {{"time", elapsed}};
    if (reply.flag) {
      timing["flag"] = *reply.flag;
    }
    connection.results().add(name, timing);

    fixupOldHeaders(txn, reply);
    updateHeaders(txn, reply);

    const auto reject = job.relaying && settings_.relay_reject_threshold
                            ? settings_.relay_reject_threshold
                            : settings_.reject_threshold;
    nlohmann::json result = {
        {"human", fmt::format("status={}, score={}, required={}, reject={}, tests=\"{}\"",
                              reply.flag.value_or(false) ? "Yes" : "No",
                              reply.score.empty() ? "undefined" : reply.score,
                              reply.required.empty() ? "undefined" : reply.required, shown(reject),
                              reply.tests)},
        {"tests", reply.tests},
        {"emit", true}};
    if (!reply.score.empty()) {
      result["score"] = scoreOf(reply.score);
      result["required"] = scoreOf(reply.required);
    }
    if (reject) {
      result["reject"] = *reject;
    }
    txn.results().add(name, result);
    host_->log(LogLevel::Info, result["human"].get<std::string>(), &connection);

    if (!reply.score.empty()) {
      const double score = scoreOf(reply.score);
      if (job.relaying && settings_.relay_reject_threshold &&
          score >= *settings_.relay_reject_threshold) {
        return next(Code::Deny, "spam score exceeded relay threshold");
      }
      if (settings_.reject_threshold && score >= *settings_.reject_threshold) {
        return next(Code::Deny, "spam score exceeded threshold");
      }
      mungeSubject(txn, score);
    }
    next();
  }

  void fixupOldHeaders(Transaction& txn, const SpamdReply& reply) {
    if (settings_.old_headers_action == "keep") {
      return;
    }
    for (const auto& [key, value] : reply.headers) {
      const std::string field = "X-Spam-" + key;
      const auto old = txn.headers(field);
      txn.removeHeader(field);
      if (settings_.old_headers_action == "drop") {
        continue;
      }
      for (const auto& v : old) { // rename
        txn.addHeader("X-Old-Spam-" + key, v);
      }
    }
  }

  void updateHeaders(Transaction& txn, const SpamdReply& reply) {
    if (reply.flag.value_or(false)) {
      txn.removeHeader("Precedence");
      txn.addHeader("Precedence", "junk");
    }
    if (!settings_.add_headers) {
      return;
    }
    for (const auto& [key, value] : reply.headers) {
      if (key == "Status" && !settings_.modern_status_syntax) {
        std::string legacy = value;
        if (auto at = legacy.find(" score="); at != std::string::npos) {
          legacy.replace(at, 7, " hits=");
        }
        txn.addHeader("X-Spam-Status", legacy);
        continue;
      }
      if (!value.empty()) {
        txn.addHeader("X-Spam-" + key, value);
      }
    }
  }

  void mungeSubject(Transaction& txn, double score) {
    if (!settings_.munge_subject_threshold || score < *settings_.munge_subject_threshold) {
      return;
    }
    const auto subject = txn.header("Subject");
    if (subject.starts_with(settings_.subject_prefix)) {
      return; // munged before
    }
    txn.removeHeader("Subject");
    txn.addHeader("Subject", settings_.subject_prefix + " " + subject);
  }

  Host* host_ = nullptr;
  nlohmann::json cfg_;
  Settings settings_;
  std::optional<dns::MxResolver> resolver_;
  std::optional<FilterFailures> failures_;
  std::set<std::shared_ptr<Scan>> scans_;
};

} // namespace upesi::plugins::spamassassin

std::unique_ptr<upesi::Plugin> upesi_builtin_spamassassin() {
  return std::make_unique<upesi::plugins::spamassassin::SpamAssassin>();
}
