// NextHopForwarder: hands a message over to a configured next hop at queue time, over SMTP
// (queue/smtp_forward) or LMTP (queue/lmtp), and answers the queue hook with the next hop's
// own reply, so that our 250 means the next hop has taken the message.
//
// One forward: pick the route (ini [main] or the section of the selected domain), copy the
// message dot-stuffed with CRLF on the thread pool, resolve the host (an IP literal, localhost,
// else A then AAAA through the loop's resolver), connect with the SMTP client, send every
// recipient in one transaction, map the outcome to OK / DENY / DENYSOFT, QUIT. Nothing blocks
// the loop; the transaction is kept alive with sharedTransaction() meanwhile. The message is
// held in memory while it is sent (bounded by databytes).
#pragma once

#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/text.hpp>

#include "common/smtp_client/smtp_client.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace upesi::plugins {

struct ForwardRoute {
  std::string host;
  std::uint16_t port = 25;
  bool enable_outbound = true;
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds command_timeout{30};
  std::string section = "main"; ///< where the route came from, for logs
};

struct ForwardConfig {
  ForwardRoute main;
  std::map<std::string, ForwardRoute> domains; ///< lower-cased section name → route
  bool select_by_sender = false;               ///< domain_selector=mail_from
};

/// How the two plugins differ.
struct ForwardKind {
  std::string config_file; ///< "smtp_forward.ini"
  bool lmtp = false;
  std::string default_host; ///< "" : none (a route without a host declines)
  std::uint16_t default_port = 25;
};

namespace forwarder_detail {

inline std::string textValue(const nlohmann::json& value) {
  if (value.is_string()) {
    return value.get<std::string>();
  }
  if (value.is_number_integer()) {
    return std::to_string(value.get<long long>());
  }
  if (value.is_boolean()) {
    return value.get<bool>() ? "true" : "false";
  }
  return {};
}

/// haraka-config's truth test: true, yes, ok, enabled, on, 1 (any case).
inline bool truthy(const nlohmann::json& value, bool fallback) {
  if (value.is_boolean()) {
    return value.get<bool>();
  }
  const std::string word = textValue(value);
  if (word.empty()) {
    return fallback;
  }
  return text::isTruthy(word);
}

inline bool positiveNumber(const nlohmann::json& value, long long max, long long& out) {
  const std::string text = textValue(value);
  if (text.empty() || text.size() > 9) {
    return false;
  }
  long long n = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
    n = n * 10 + (c - '0');
  }
  if (n < 1 || n > max) {
    return false;
  }
  out = n;
  return true;
}

/// Overlays the keys of one ini section on `route`; bad values are reported and ignored.
inline void applySection(const nlohmann::json& section, ForwardRoute& route,
                         std::vector<std::string>& problems, const std::string& name) {
  if (!section.is_object()) {
    return;
  }
  long long n = 0;
  if (section.contains("host")) {
    route.host = textValue(section["host"]);
  }
  if (section.contains("port")) {
    if (positiveNumber(section["port"], 65535, n)) {
      route.port = static_cast<std::uint16_t>(n);
    } else {
      problems.push_back(fmt::format("[{}] port: not a port number", name));
    }
  }
  if (section.contains("enable_outbound")) {
    route.enable_outbound = truthy(section["enable_outbound"], route.enable_outbound);
  }
  if (section.contains("connect_timeout")) {
    if (positiveNumber(section["connect_timeout"], 3600, n)) {
      route.connect_timeout = std::chrono::seconds(n);
    } else {
      problems.push_back(fmt::format("[{}] connect_timeout: not a number of seconds", name));
    }
  }
  if (section.contains("command_timeout")) {
    if (positiveNumber(section["command_timeout"], 3600, n)) {
      route.command_timeout = std::chrono::seconds(n);
    } else {
      problems.push_back(fmt::format("[{}] command_timeout: not a number of seconds", name));
    }
  }
}

/// The reply text of a status, without its code and enhanced code: "accepted" from
/// "250 2.0.0 accepted". A failure of our own (code 0) keeps its reason.
inline std::string replyText(const smtp_client::Status& status) {
  std::string_view text = status.reason;
  if (status.code == 0) {
    return std::string(text);
  }
  const std::string code = std::to_string(status.code);
  if (text.substr(0, code.size()) == code) {
    text.remove_prefix(code.size());
    if (!text.empty() && text.front() == ' ') {
      text.remove_prefix(1);
    }
  }
  if (!status.enhanced.empty() && text.substr(0, status.enhanced.size()) == status.enhanced) {
    text.remove_prefix(status.enhanced.size());
    if (!text.empty() && text.front() == ' ') {
      text.remove_prefix(1);
    }
  }
  return text.empty() ? status.reason : std::string(text);
}

inline bool isIpLiteral(const std::string& host) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

} // namespace forwarder_detail

/// Reads the plugin's ini file: [main] then one section per domain, each domain inheriting
/// what it does not set from [main]. `problems` gets one line per bad value.
inline ForwardConfig parseForwardConfig(const nlohmann::json& ini, const ForwardKind& kind,
                                        std::vector<std::string>& problems) {
  using namespace forwarder_detail;
  ForwardConfig config;
  config.main.host = kind.default_host;
  config.main.port = kind.default_port;
  if (!ini.is_object()) {
    return config;
  }
  if (ini.contains("main")) {
    const auto& main = ini["main"];
    applySection(main, config.main, problems, "main");
    if (main.is_object() && main.contains("domain_selector")) {
      const std::string selector = text::toLower(textValue(main["domain_selector"]));
      if (selector == "mail_from") {
        config.select_by_sender = true;
      } else if (selector != "rcpt_to") {
        problems.push_back(
            fmt::format("[main] domain_selector: '{}' is neither rcpt_to nor mail_from", selector));
      }
    }
  }
  for (const auto& [name, section] : ini.items()) {
    if (name == "main" || !section.is_object()) {
      continue;
    }
    ForwardRoute route = config.main;
    route.section = text::toLower(name);
    applySection(section, route, problems, name);
    config.domains[route.section] = std::move(route);
  }
  return config;
}

/// The route for a transaction: the section of the first recipient's domain (or the sender's,
/// with domain_selector=mail_from), else [main].
inline const ForwardRoute& selectRoute(const ForwardConfig& config, Transaction& txn) {
  std::string domain;
  if (config.select_by_sender) {
    domain = txn.mailFrom().host;
  } else if (!txn.rcptTo().empty()) {
    domain = txn.rcptTo().front().host;
  }
  auto it = config.domains.find(text::toLower(domain));
  return it == config.domains.end() ? config.main : it->second;
}

/// What the queue hook answers, from the next hop's result.
struct ForwardVerdict {
  Code code = Code::DenySoft;
  std::string text;
  std::vector<smtp_client::RecipientResult> refused; ///< recipients the next hop did not take
};

/// SMTP: the final reply decides. Every recipient taken → OK with the next hop's text. Some
/// taken → OK too (the next hop has the message for them; the others are logged, since the
/// client was already told 250 for them and cannot be told otherwise). None taken → DENY when
/// every refusal was permanent, else DENYSOFT.
/// LMTP: each recipient has its own final reply. All taken → OK; else the whole message is
/// refused (DENYSOFT if any failure was temporary, else DENY), so the client keeps it and
/// retries: recipients that did take it may see it twice, which beats losing it.
inline ForwardVerdict forwardVerdict(const smtp_client::DeliveryResult& result, bool lmtp) {
  using forwarder_detail::replyText;
  using smtp_client::Outcome;
  ForwardVerdict verdict;
  const smtp_client::RecipientResult* first_temp = nullptr;
  const smtp_client::RecipientResult* first_perm = nullptr;
  for (const auto& r : result.recipients) {
    if (r.status.ok()) {
      continue;
    }
    verdict.refused.push_back(r);
    auto& slot = r.status.outcome == Outcome::Temporary ? first_temp : first_perm;
    if (slot == nullptr) {
      slot = &r;
    }
  }
  const bool all_ok = verdict.refused.empty() && !result.recipients.empty();
  if (result.message.ok() && (all_ok || !lmtp)) {
    verdict.code = Code::Ok;
    verdict.text = replyText(result.message);
    return verdict;
  }
  if (lmtp && result.message.ok()) {
    const auto* decisive = first_temp != nullptr ? first_temp : first_perm;
    verdict.code = first_temp != nullptr ? Code::DenySoft : Code::Deny;
    verdict.text = replyText(decisive->status);
    return verdict;
  }
  // Nothing was taken. A reply of the next hop about the message or about every recipient
  // keeps its class; a failure of our own (no reply) is always temporary.
  const smtp_client::Status* status = &result.message;
  if (result.message.code != 0 && (first_temp != nullptr || first_perm != nullptr) &&
      verdict.refused.size() == result.recipients.size()) {
    status = first_temp != nullptr ? &first_temp->status : &first_perm->status;
  }
  verdict.code =
      status->outcome == Outcome::Permanent && status->code != 0 ? Code::Deny : Code::DenySoft;
  verdict.text = replyText(*status);
  return verdict;
}

class NextHopForwarder {
public:
  explicit NextHopForwarder(ForwardKind kind) : kind_(std::move(kind)) {}

  void load(Host& host) {
    host_ = &host;
    std::vector<std::string> problems;
    config_ =
        parseForwardConfig(host.config(kind_.config_file, "ini", booleans()), kind_, problems);
    for (const auto& problem : problems) {
      host.log(LogLevel::Error, fmt::format("{}: {}", kind_.config_file, problem));
    }
  }

  std::vector<std::string> booleans() const { return {"+main.enable_outbound"}; }

  const ForwardConfig& config() const { return config_; }

  /// The queue (outbound=false) or queue_outbound (true) hook.
  void forward(const Next& next, Connection& connection, bool outbound) {
    auto txn = connection.sharedTransaction();
    if (!txn || txn->rcptTo().empty()) {
      return next();
    }
    const ForwardRoute& route = selectRoute(config_, *txn);
    if (outbound && !route.enable_outbound) {
      return next(); // the outbound queue delivers it
    }
    if (route.host.empty()) {
      host_->log(LogLevel::Error, fmt::format("{}: no host for [{}]; not forwarding {}",
                                              kind_.config_file, route.section, txn->uuid()));
      return next();
    }
    auto job = std::make_shared<Job>();
    job->txn = std::move(txn);
    job->next = next;
    job->route = route;
    job->uuid = job->txn->uuid();
    jobs_.insert(job);
    host_->runInThreadPool(
        [job] {
          job->read_ok = job->txn->writeMessage(
              [&](std::string_view chunk) {
                job->bytes.append(chunk);
                return true;
              },
              MessageWriteOptions{true, true});
        },
        [this, job] {
          if (!job->read_ok) {
            finish(job, Code::DenySoft, "Message not forwarded: reading it failed, try again later",
                   "reading the message failed");
            return;
          }
          resolve(job);
        });
  }

  /// Drops every forward in flight (their hooks are answered by the plugin timeout, if ever).
  void shutdown() {
    for (const auto& job : jobs_) {
      if (job->client) {
        job->client->close();
        job->client.reset();
      }
      job->done = true;
    }
    jobs_.clear();
  }

private:
  struct Job {
    std::shared_ptr<Transaction> txn;
    Next next{std::weak_ptr<Next::Target>(), 0};
    ForwardRoute route;
    std::string uuid;
    std::string bytes;
    bool read_ok = false;
    bool done = false;
    std::unique_ptr<smtp_client::SmtpClient> client;
  };
  using JobPtr = std::shared_ptr<Job>;

  std::string where(const Job& job, const std::string& ip = {}) const {
    return ip.empty() || ip == job.route.host
               ? fmt::format("{}:{}", job.route.host, job.route.port)
               : fmt::format("{} [{}]:{}", job.route.host, ip, job.route.port);
  }

  void resolve(const JobPtr& job) {
    if (job->done) {
      return;
    }
    const std::string& name = job->route.host;
    if (forwarder_detail::isIpLiteral(name)) {
      return connect(job, name);
    }
    if (text::toLower(name) == "localhost") {
      return connect(job, "127.0.0.1");
    }
    host_->dnsQuery(name, DnsType::A, [this, job](DnsResult a) {
      if (job->done) {
        return;
      }
      if (a.status == DnsStatus::Ok && !a.records.empty()) {
        return connect(job, a.records.front().value);
      }
      host_->dnsQuery(job->route.host, DnsType::Aaaa, [this, job, a](DnsResult aaaa) {
        if (job->done) {
          return;
        }
        if (aaaa.status == DnsStatus::Ok && !aaaa.records.empty()) {
          return connect(job, aaaa.records.front().value);
        }
        const std::string error = a.error.empty() ? aaaa.error : a.error;
        finish(
            job, Code::DenySoft, "Next hop unavailable: its address did not resolve",
            fmt::format("resolving {}: {}", job->route.host, error.empty() ? "no address" : error));
      });
    });
  }

  void connect(const JobPtr& job, const std::string& ip) {
    if (job->done) {
      return;
    }
    if (!job->next.pending()) {
      return finish(job, Code::DenySoft, "", "the hook was answered before the next hop was tried");
    }
    smtp_client::ClientOptions options;
    options.ip = ip;
    options.port = job->route.port;
    options.host = job->route.host;
    options.helo = host_->me();
    options.lmtp = kind_.lmtp;
    options.timeouts.connect = job->route.connect_timeout;
    options.timeouts.greeting = job->route.command_timeout;
    options.timeouts.command = job->route.command_timeout;
    options.timeouts.data = job->route.command_timeout;
    options.timeouts.data_block = job->route.command_timeout;
    options.timeouts.final_dot = job->route.command_timeout;
    options.log_id = job->uuid;
    job->client = std::make_unique<smtp_client::SmtpClient>(
        static_cast<uv_loop_t*>(host_->uvLoop()), options);
    job->client->connect([this, job, ip](const smtp_client::Status& status) {
      if (job->done) {
        return;
      }
      if (!status.ok()) {
        // The next hop did not judge the message: never a permanent refusal for the client.
        return finish(job, Code::DenySoft,
                      fmt::format("Next hop unavailable: {}", forwarder_detail::replyText(status)),
                      fmt::format("{}: {}", where(*job, ip), status.reason));
      }
      if (!job->next.pending()) {
        return finish(job, Code::DenySoft, "", "the hook was answered before the message was sent");
      }
      smtp_client::Envelope envelope;
      envelope.sender = job->txn->mailFrom();
      envelope.recipients = job->txn->rcptTo();
      envelope.size = job->bytes.size();
      auto source = smtp_client::memorySource(std::move(job->bytes));
      job->client->send(
          std::move(envelope), std::move(source),
          [this, job, ip](const smtp_client::DeliveryResult& result) { sent(job, ip, result); });
    });
  }

  void sent(const JobPtr& job, const std::string& ip, const smtp_client::DeliveryResult& result) {
    if (job->done) {
      return;
    }
    const ForwardVerdict verdict = forwardVerdict(result, kind_.lmtp);
    const std::string mode = kind_.lmtp ? "LMTP" : "SMTP";
    for (const auto& refused : verdict.refused) {
      if (verdict.code == Code::Ok) {
        // Haraka's smtp_forward does the same: the client has its 250, this copy is lost.
        host_->log(LogLevel::Warn,
                   fmt::format("{} {}: {} refused <{}> after the client was told it was accepted, "
                               "and it is not bounced: {}",
                               mode, job->uuid, where(*job, ip), refused.address,
                               refused.status.reason));
      } else {
        host_->log(LogLevel::Info,
                   fmt::format("{} {}: {} refused <{}>: {}", mode, job->uuid, where(*job, ip),
                               refused.address, refused.status.reason));
      }
    }
    if (kind_.lmtp && verdict.code != Code::Ok &&
        verdict.refused.size() < result.recipients.size()) {
      host_->log(LogLevel::Warn,
                 fmt::format("LMTP {}: {} of {} recipient(s) took the message; refusing it whole "
                             "so the client retries (they may get it twice)",
                             job->uuid, result.recipients.size() - verdict.refused.size(),
                             result.recipients.size()));
    }
    std::string detail = fmt::format("{} via {}: {}", mode, where(*job, ip), result.message.reason);
    finish(job, verdict.code, verdict.text, std::move(detail));
  }

  void finish(const JobPtr& job, Code code, const std::string& text, const std::string& detail) {
    if (job->done) {
      return;
    }
    job->done = true;
    jobs_.erase(job);
    if (job->client) {
      smtp_client::quitAndRelease(std::move(job->client)); // QUIT politely
    }
    const bool ok = code == Code::Ok;
    host_->log(ok ? LogLevel::Info : LogLevel::Warn,
               fmt::format("{} {} {}: {}", ok ? "forwarded" : "not forwarded", job->uuid,
                           ok                   ? "OK"
                           : code == Code::Deny ? "DENY"
                                                : "DENYSOFT",
                           detail));
    job->next(code, text);
  }

  ForwardKind kind_;
  Host* host_ = nullptr;
  ForwardConfig config_;
  std::set<JobPtr> jobs_;
};

} // namespace upesi::plugins
