// clamd: scans each message with ClamAV's clamd at data_post, as Haraka's clamd plugin does:
// same clamd.ini keys and defaults, [reject] per class of signature, clamd.excludes, a list of
// daemons tried in turn, the same replies, header and results. The message streams to clamd
// with zINSTREAM (4-byte big-endian length before each chunk, a zero length at the end)
// without blocking the loop or being held whole in memory.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include "common/config/ini_values.hpp"
#include "common/dns/mx_resolver.hpp"
#include "plugins/clamd/clamd_reply.hpp"
#include "plugins/support/filter_failures.hpp"
#include "plugins/support/json_notes.hpp"
#include "plugins/support/scanner_checks.hpp"
#include "plugins/support/scanner_exchange.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace upesi::plugins::clamd {

using config::iniFlag;
using config::iniString;

namespace {

const std::vector<std::string> Booleans = {
    "-main.randomize_host_order", "-main.only_with_attachments", "+reject.virus", "+reject.error",
    // Classes clamd.conf leaves off by default: rejected once an admin turns them on there.
    "+reject.Broken.Executable", "+reject.Structured", "+reject.Encrypted", "+reject.PUA",
    "+reject.OLE2", "+reject.Safebrowsing", "+reject.UNOFFICIAL",
    // On in clamd by default, but prone to false positives.
    "-reject.Phishing", "+check.authenticated", "+check.private_ip", "+check.local_ip",
    "+check.relay"};

constexpr std::uint16_t ClamdPort = 3310;
constexpr std::size_t MaxAnswer = 4096;
// Put first so that clamd takes the stream for mail (its type detection reads the start).
constexpr std::string_view Preamble = "Received: from Upesi clamd plugin\r\n";

struct Settings {
  std::string clamd_socket = "localhost:3310";
  bool randomize_host_order = false;
  bool only_with_attachments = false;
  std::chrono::seconds timeout{30};
  std::chrono::seconds connect_timeout{10};
  std::uint64_t max_size = 26214400;
  bool reject_error = true;
  VirusPolicy policy;
};

std::string lengthPrefixed(std::string_view bytes) {
  const auto n = static_cast<std::uint32_t>(bytes.size());
  std::string out;
  out.reserve(bytes.size() + 4);
  out += static_cast<char>((n >> 24) & 0xFF);
  out += static_cast<char>((n >> 16) & 0xFF);
  out += static_cast<char>((n >> 8) & 0xFF);
  out += static_cast<char>(n & 0xFF);
  out += bytes;
  return out;
}

struct Scan {
  Next next{std::weak_ptr<Next::Target>(), 0};
  std::shared_ptr<Transaction> txn;
  Connection* connection = nullptr; // alive while next is pending
  std::vector<std::string> hosts;   // still to try
  std::string host;                 // being tried
  std::unique_ptr<ScannerExchange> exchange;
};

} // namespace

class Clamd final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    failures_.emplace(host.pluginName());
    resolver_.emplace([&host](const std::string& name, DnsType type, DnsCallback done) {
      host.dnsQuery(name, type, std::move(done));
    });
    load();
    host.onConfigChange("clamd.ini", [this] { load(); });
    host.onConfigChange("clamd.excludes", [this] { load(); });
    registrar.registerHook(
        Hook::Data, [this](Next next, Connection& c, const HookParams&) { data(next, c); }, 0,
        "hook_data");
    registrar.registerHook(
        Hook::DataPost, [this](Next next, Connection& c, const HookParams&) { scan(next, c); }, 0,
        "hook_data_post");
  }

  void shutdown() override { scans_.clear(); }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"clamd.ini", "ini", Booleans}, {"clamd.excludes", "list", {}}};
  }

private:
  void load() {
    cfg_ = host_->config("clamd.ini", "ini", Booleans);
    Settings s;
    if (auto value = iniString(cfg_, "main", "clamd_socket"); !value.empty()) {
      s.clamd_socket = value;
    }
    s.randomize_host_order = iniFlag(cfg_, "main", "randomize_host_order");
    s.only_with_attachments = iniFlag(cfg_, "main", "only_with_attachments");
    // The key's name in Haraka's docs, which its code reads too.
    if (const auto& old = config::iniValue(cfg_, "main", "only_with_attachment"); !old.is_null()) {
      const auto text = iniString(cfg_, "main", "only_with_attachment");
      s.only_with_attachments = text == "true" || text == "1" || text == "yes" || text == "on";
    }
    auto secs = [&](const char* key, std::chrono::seconds& out) {
      if (auto v = config::iniInteger(cfg_, "main", key); v && *v > 0) {
        out = std::chrono::seconds(*v);
      }
    };
    secs("timeout", s.timeout);
    secs("connect_timeout", s.connect_timeout);
    if (auto v = config::iniInteger(cfg_, "main", "max_size"); v && *v >= 0) {
      s.max_size = static_cast<std::uint64_t>(*v);
    }
    s.reject_error = iniFlag(cfg_, "reject", "error");
    s.policy.reject_virus = iniFlag(cfg_, "reject", "virus");
    for (const auto& vc : virusClasses()) {
      if (iniFlag(cfg_, "reject", vc.key)) {
        s.policy.enabled_classes.emplace_back(vc.key);
      }
    }
    std::vector<std::string> lines;
    const auto list = host_->config("clamd.excludes", "list");
    if (list.is_array()) {
      for (const auto& line : list) {
        if (line.is_string()) {
          lines.push_back(line.get<std::string>());
        }
      }
    }
    s.policy.excludes = parseExcludes(lines);
    for (const auto& error : s.policy.excludes.errors) {
      host_->log(LogLevel::Error, fmt::format("clamd.excludes: {}", error));
    }
    for (const auto& entry : splitScannerList(s.clamd_socket)) {
      if (auto endpoint = parseScannerEndpoint(entry, ClamdPort); !endpoint) {
        host_->log(LogLevel::Error,
                   fmt::format("clamd.ini clamd_socket: {}: {}", entry, endpoint.error()));
      }
    }
    settings_ = std::move(s);
  }

  // Haraka's should_check: every reason is recorded.
  bool shouldCheck(Connection& connection, Transaction& txn) {
    const auto reasons = uncheckedReasons(cfg_, connection);
    for (const auto& reason : reasons) {
      txn.results().add(host_->pluginName(), {{"skip", reason}});
    }
    return reasons.empty();
  }

  void data(const Next& next, Connection& connection) {
    auto* txn = connection.transaction();
    if (!settings_.only_with_attachments || txn == nullptr || !shouldCheck(connection, *txn)) {
      return next();
    }
    txn->attachmentHooks([txn](const BodyPart&) {
      txn->notes()["clamd_found_attachment"] = true;
      return AttachmentHandlers{};
    });
    next();
  }

  void scan(const Next& next, Connection& connection) {
    auto txn = connection.sharedTransaction();
    if (!txn || !shouldCheck(connection, *txn)) {
      return next();
    }
    const auto& name = host_->pluginName();
    if (settings_.only_with_attachments &&
        !truthy(member(txn->notes(), "clamd_found_attachment"))) {
      txn->results().add(name, {{"skip", "no attachments"}});
      return next();
    }
    if (txn->dataBytes() > settings_.max_size) {
      txn->results().add(name, {{"skip", "exceeds max size"}, {"emit", true}});
      return next();
    }
    auto job = std::make_shared<Scan>();
    job->next = next;
    job->txn = std::move(txn);
    job->connection = &connection;
    job->hosts = splitScannerList(settings_.clamd_socket);
    if (settings_.randomize_host_order) {
      static thread_local std::mt19937 random{std::random_device{}()};
      std::shuffle(job->hosts.begin(), job->hosts.end(), random);
    }
    scans_.insert(job);
    tryNextHost(job);
  }

  void tryNextHost(const std::shared_ptr<Scan>& job) {
    job->exchange.reset();
    if (job->hosts.empty()) {
      job->txn->results().add(host_->pluginName(), {{"err", "connecting"}});
      return finishWithError(job, "connect", "no clamd could be reached",
                             "Error connecting to virus scanner");
    }
    job->host = job->hosts.front();
    job->hosts.erase(job->hosts.begin());
    auto endpoint = parseScannerEndpoint(job->host, ClamdPort);
    if (!endpoint) {
      host_->log(LogLevel::Error, fmt::format("{} clamd_socket {}: {}", job->txn->uuid(), job->host,
                                              endpoint.error()));
      return tryNextHost(job);
    }
    ScannerRequest request;
    request.endpoint = *endpoint;
    request.connect_timeout = settings_.connect_timeout;
    request.idle_timeout = settings_.timeout;
    request.head = [](std::uint64_t) {
      return std::string("zINSTREAM", 10) + lengthPrefixed(Preamble);
    };
    request.frame = [](std::string chunk) { return lengthPrefixed(chunk); };
    request.tail = std::string(4, '\0');
    request.max_answer = MaxAnswer;
    request.complete = clamdReplyComplete;
    Scan* raw = job.get();
    job->exchange = std::make_unique<ScannerExchange>(
        *host_, *resolver_, job->txn, std::move(request),
        [this, raw](ScannerOutcome outcome) { answered(raw, std::move(outcome)); });
    job->exchange->start();
  }

  std::shared_ptr<Scan> find(Scan* raw) const {
    for (const auto& s : scans_) {
      if (s.get() == raw) {
        return s;
      }
    }
    return nullptr;
  }

  void answered(Scan* raw, ScannerOutcome outcome) {
    auto job = find(raw);
    if (!job) {
      return;
    }
    if (!job->next.pending()) {
      scans_.erase(job);
      return; // timed out or the client left: the message is no longer ours to change
    }
    auto& txn = *job->txn;
    const auto& name = host_->pluginName();
    using Failure = ScannerOutcome::Failure;
    if (outcome.failure != Failure::None) {
      if (!outcome.connected) {
        host_->log(LogLevel::Error,
                   fmt::format("{} clamd {}: {}", txn.uuid(), job->host, outcome.detail));
        return tryNextHost(job);
      }
      if (outcome.failure == Failure::Timeout) {
        txn.results().add(name, {{"err", "clamd timed out"}});
        return finishWithError(job, "timeout", fmt::format("{}: {}", job->host, outcome.detail),
                               "Virus scanner timed out");
      }
      if (!job->hosts.empty()) {
        host_->log(LogLevel::Warn,
                   fmt::format("{} error on host {}: {}", txn.uuid(), job->host, outcome.detail));
        return tryNextHost(job);
      }
      txn.results().add(name,
                        {{"err", fmt::format("error on host {}: {}", job->host, outcome.detail)}});
      return finishWithError(job, "error", fmt::format("{}: {}", job->host, outcome.detail),
                             "Virus scanner error");
    }
    const ClamdReply reply = parseClamdReply(outcome.answer);
    host_->log(LogLevel::Protocol, fmt::format("C:{}", reply.text), job->connection);
    switch (reply.kind) {
    case ClamdReply::Kind::Clean:
      txn.results().add(name, {{"pass", "clean"}, {"emit", true}});
      return finish(job);
    case ClamdReply::Kind::Found:
      return found(job, reply.virus);
    case ClamdReply::Kind::SizeLimit:
      txn.results().add(name, {{"err", "INSTREAM size limit exceeded. Check StreamMaxLength "
                                       "in clamd.conf"}});
      host_->log(LogLevel::Warn, fmt::format("{} clamd {}: INSTREAM size limit exceeded; "
                                             "accepting the message unscanned (StreamMaxLength "
                                             "in clamd.conf is below max_size)",
                                             txn.uuid(), job->host));
      return finish(job);
    case ClamdReply::Kind::Unknown:
      break;
    }
    if (!job->hosts.empty()) {
      host_->log(LogLevel::Warn, fmt::format("{} unknown result: '{}' from host {}", txn.uuid(),
                                             reply.text, job->host));
      return tryNextHost(job);
    }
    txn.results().add(
        name, {{"err", fmt::format("unknown result: '{}' from host {}", reply.text, job->host)}});
    finishWithError(job, "error", fmt::format("unknown result '{}'", reply.text),
                    "Error running virus scanner");
  }

  void found(const std::shared_ptr<Scan>& job, const std::string& virus) {
    auto& txn = *job->txn;
    txn.results().add(host_->pluginName(), {{"fail", virus}, {"emit", true}});
    host_->log(LogLevel::Info, fmt::format("{} clamd {}: {} FOUND", txn.uuid(), job->host, virus),
               job->connection);
    switch (decideVirus(settings_.policy, virus)) {
    case VirusAction::AcceptWithHeader:
      txn.addHeader("X-Haraka-Virus", virus);
      return finish(job);
    case VirusAction::Accept:
      return finish(job);
    case VirusAction::Reject:
      return finish(job, Code::Deny, fmt::format("Message is infected with {}", virus));
    }
  }

  void finishWithError(const std::shared_ptr<Scan>& job, const std::string& cause,
                       const std::string& detail, const char* reply) {
    failures_->count(cause);
    host_->log(LogLevel::Error, fmt::format("{} clamd: {}: {}", job->txn->uuid(), detail,
                                            settings_.reject_error ? "deferring the message"
                                                                   : "accepting it unscanned"));
    if (settings_.reject_error) {
      return finish(job, Code::DenySoft, reply);
    }
    finish(job);
  }

  void finish(const std::shared_ptr<Scan>& job, Code code = Code::Cont,
              const std::string& text = {}) {
    auto keep = job; // erased below; `job` may be a reference into scans_
    scans_.erase(keep);
    keep->next(code, text);
  }

  Host* host_ = nullptr;
  nlohmann::json cfg_;
  Settings settings_;
  std::optional<dns::MxResolver> resolver_;
  std::optional<FilterFailures> failures_;
  std::set<std::shared_ptr<Scan>> scans_;
};

} // namespace upesi::plugins::clamd

std::unique_ptr<upesi::Plugin> upesi_builtin_clamd() {
  return std::make_unique<upesi::plugins::clamd::Clamd>();
}
