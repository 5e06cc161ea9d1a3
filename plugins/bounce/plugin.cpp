// bounce: backscatter defence for null-sender mail, as Haraka's bounce plugin: one recipient,
// listed recipients that take no bounces, SPF of the hops the bounce names, and a hash our own
// outbound mail carries that a genuine bounce of it brings back.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>
#include <upesi/text.hpp>

#include "common/auth/from_domain.hpp"
#include "common/auth/spf_check.hpp"
#include "common/config/ini_values.hpp"
#include "plugins/bounce/bounce_validation.hpp"
#include "plugins/support/answer_deadlines.hpp"
#include "plugins/support/json_notes.hpp"

#include <fmt/format.h>

#include <ctime>
#include <memory>
#include <string>
#include <vector>

namespace upesi::plugins::bounce {

using config::iniFlag;
using config::iniInteger;
using config::iniString;

namespace {

const std::vector<std::string> Booleans = {
    "+check.single_recipient",   "-check.empty_return_path", "+check.bounce_spf",
    "-check.hash_validation",    "+check.hash_date",         "+reject.single_recipient",
    "-reject.empty_return_path", "-reject.bounce_spf",       "+reject.bad_rcpt",
    "-reject.all_bounces",       "-reject.hash_validation",  "-reject.hash_date",
    "-skip.remaining_plugins",   "-check.reject_all"};

constexpr long long DefaultMaxHashAgeDays = 6;
constexpr long long DefaultLookupTimeout = 20; // seconds, as the spf plugin
constexpr long long DefaultMaxReceivedIps = 10;
constexpr std::size_t MinSecretLength = 32;

std::int64_t now() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

} // namespace

class Bounce final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    deadlines_.attach(host);
    load();
    host.onConfigChange("bounce.ini", [this] { load(); });
    host.onConfigChange("bounce_bad_rcpt", [this] { load(); });
    host.onConfigChange("bounce_whitelist.json", [this] { load(); });
    auto hook = [this, &registrar](Hook which, auto method, int priority, const char* name) {
      registrar.registerHook(
          which,
          [this, method](Next next, Connection& c, const HookParams& p) {
            (this->*method)(next, c, p);
          },
          priority, name);
    };
    hook(Hook::Mail, &Bounce::checkNullSender, -5, "check_null_sender");
    hook(Hook::Mail, &Bounce::rejectAll, 0, "reject_all");
    hook(Hook::RcptOk, &Bounce::badRcpt, 0, "bad_rcpt");
    hook(Hook::Data, &Bounce::singleRecipient, 0, "single_recipient");
    hook(Hook::Data, &Bounce::parseBodyWhenNeeded, 0, "bounce_spf_enable");
    // Before the headers plugin's invalid_return_path, which removes Return-Path.
    hook(Hook::DataPost, &Bounce::emptyReturnPath, -5, "empty_return_path");
    hook(Hook::DataPost, &Bounce::validateBounce, 0, "validate_bounce");
    hook(Hook::DataPost, &Bounce::bounceSpf, 1, "bounce_spf"); // after validate_bounce
    // Before dkim signs (queue_outbound -50), so that the signature covers the hash.
    hook(Hook::QueueOutbound, &Bounce::addValidationHash, -60, "create_validation_hash");
    hook(Hook::PreSendTransEmail, &Bounce::addValidationHash, -60, "create_validation_hash");
  }

  void shutdown() override { deadlines_.shutdown(); }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"bounce.ini", "ini", Booleans},
            {"bounce_bad_rcpt", "list", {}},
            {"bounce_whitelist.json", "json", {}}};
  }

private:
  void load() {
    cfg_ = host_->config("bounce.ini", "ini", Booleans);
    // Haraka's older key.
    if (iniFlag(cfg_, "check", "reject_all")) {
      cfg_["reject"]["all_bounces"] = true;
    }
    // A reject needs its check.
    for (const char* key :
         {"single_recipient", "empty_return_path", "bounce_spf", "hash_validation"}) {
      if (iniFlag(cfg_, "reject", key)) {
        cfg_["check"][key] = true;
      }
    }
    if (iniFlag(cfg_, "reject", "hash_date")) {
      cfg_["check"]["hash_date"] = true;
    }
    max_age_days_ = iniInteger(cfg_, "validation", "max_hash_age_days").value_or(0);
    if (max_age_days_ <= 0) {
      max_age_days_ = DefaultMaxHashAgeDays;
    }
    algorithm_ = iniString(cfg_, "validation", "hash_algorithm", "sha256");
    if (algorithm_.empty()) {
      algorithm_ = "sha256";
    }
    secret_ = iniString(cfg_, "validation", "secret");
    hash_validation_ = iniFlag(cfg_, "check", "hash_validation");
    if (hash_validation_) {
      if (!computeHash(algorithm_, "", "", "", "")) {
        host_->log(LogLevel::Error,
                   fmt::format("Bounce validation disabled due to invalid hash algorithm: {}",
                               algorithm_));
        hash_validation_ = false;
      } else if (secret_.empty() || secret_ == "your_generated_secret_here") {
        host_->log(LogLevel::Error, "Bounce validation disabled due to missing secret.");
        hash_validation_ = false;
      } else if (secret_.size() < MinSecretLength) {
        host_->log(LogLevel::Error, "Bounce validation disabled due to secret that is too short.");
        hash_validation_ = false;
      }
    }
    lookup_timeout_ = iniInteger(cfg_, "main", "lookup_timeout").value_or(DefaultLookupTimeout);
    max_received_ips_ =
        iniInteger(cfg_, "main", "max_received_ips").value_or(DefaultMaxReceivedIps);
    bad_rcpts_.clear();
    auto list = host_->config("bounce_bad_rcpt", "list");
    if (list.is_array()) {
      for (const auto& item : list) {
        if (item.is_string()) {
          bad_rcpts_.push_back(text::toLower(item.get<std::string>()));
        }
      }
    }
    whitelist_ = nlohmann::json::object();
    auto whitelist = host_->config("bounce_whitelist.json", "json");
    if (whitelist.is_object()) {
      for (const auto& [rcpt, senders] : whitelist.items()) {
        whitelist_[text::toLower(rcpt)] = senders;
      }
    }
  }

  // Tri-state as Haraka's is_a_bounce: results hold isa once check_null_sender ran.
  static bool shouldSkip(Connection& connection, Transaction& txn, const std::string& name) {
    if (connection.relaying()) {
      return true;
    }
    const auto& isa = member(txn.results().get(name), "isa");
    return isa.is_boolean() && !isa.get<bool>();
  }

  Transaction* open(Connection& connection) {
    auto* txn = connection.transaction();
    if (txn == nullptr || shouldSkip(connection, *txn, host_->pluginName())) {
      return nullptr;
    }
    return txn;
  }

  void checkNullSender(const Next& next, Connection& connection, const HookParams&) {
    auto* txn = connection.transaction();
    if (txn == nullptr) {
      return next();
    }
    const bool isa = txn->mailFrom().is_null;
    txn->results().add(host_->pluginName(),
                       {{"isa", isa}, {"human", fmt::format("isa: {}", isa ? "yes" : "no")}});
    next();
  }

  void rejectAll(const Next& next, Connection& connection, const HookParams&) {
    auto* txn = open(connection);
    if (txn == nullptr || !iniFlag(cfg_, "reject", "all_bounces")) {
      return next();
    }
    txn->results().add(host_->pluginName(),
                       {{"fail", "bounces_accepted"}, {"msg", "Bounces not accepted here"}});
    next(Code::Deny, "Bounces not accepted here");
  }

  void badRcpt(const Next& next, Connection& connection, const HookParams& params) {
    auto* txn = open(connection);
    if (txn == nullptr || params.address == nullptr || !iniFlag(cfg_, "reject", "bad_rcpt")) {
      return next();
    }
    const auto address = params.address->address();
    const auto& name = host_->pluginName();
    if (std::find(bad_rcpts_.begin(), bad_rcpts_.end(), text::toLower(address)) !=
        bad_rcpts_.end()) {
      txn->results().add(name, {{"fail", "bad_rcpt"}, {"msg", "rcpt does not accept bounces"}});
      return next(Code::Deny, fmt::format("{} does not accept bounces", address));
    }
    txn->results().add(name, {{"pass", "bad_rcpt"}});
    next();
  }

  void singleRecipient(const Next& next, Connection& connection, const HookParams&) {
    auto* txn = open(connection);
    if (txn == nullptr || !iniFlag(cfg_, "check", "single_recipient")) {
      return next();
    }
    const auto& name = host_->pluginName();
    if (txn->rcptTo().size() == 1) {
      txn->results().add(name, {{"pass", "single_recipient"}});
      return next();
    }
    std::string all;
    for (const auto& rcpt : txn->rcptTo()) {
      all += all.empty() ? rcpt.format() : "," + rcpt.format();
    }
    host_->log(LogLevel::Info, fmt::format("bounce with too many recipients to: {}", all),
               &connection);
    txn->results().add(name, {{"fail", "single_recipient"}, {"msg", "too many recipients"}});
    if (iniFlag(cfg_, "reject", "single_recipient")) {
      return next(Code::Deny, "this bounce message has too many recipients");
    }
    next();
  }

  // Haraka parses the body only for bounce_spf; hash validation reads it too.
  void parseBodyWhenNeeded(const Next& next, Connection& connection, const HookParams&) {
    auto* txn = open(connection);
    if (txn != nullptr && (iniFlag(cfg_, "check", "bounce_spf") || hash_validation_)) {
      txn->parseBody(true);
    }
    next();
  }

  // RFC 3834: a bounce's Return-Path is empty.
  void emptyReturnPath(const Next& next, Connection& connection, const HookParams&) {
    auto* txn = open(connection);
    if (txn == nullptr || !iniFlag(cfg_, "check", "empty_return_path")) {
      return next();
    }
    const auto& name = host_->pluginName();
    const auto path = std::string(text::trim(txn->header("Return-Path")));
    if (path.empty() || path == "<>") {
      txn->results().add(name, {{"pass", "empty_return_path"}});
      return next();
    }
    txn->results().add(
        name, {{"fail", "empty_return_path"}, {"msg", "bounce with non-empty Return-Path"}});
    if (iniFlag(cfg_, "reject", "empty_return_path")) {
      return next(Code::Deny, "bounce with non-empty Return-Path (RFC 3834)");
    }
    next();
  }

  void validateBounce(const Next& next, Connection& connection, const HookParams&) {
    auto* txn = open(connection);
    if (txn == nullptr || !hash_validation_ || txn->body() == nullptr) {
      return next();
    }
    const auto& name = host_->pluginName();
    VerifyOptions options;
    options.algorithm = algorithm_;
    options.secret = secret_;
    options.max_age_days = max_age_days_;
    options.check_date = iniFlag(cfg_, "check", "hash_date");
    options.now = now();
    options.whitelist = whitelist_;
    options.rcpt = txn->rcptTo().empty() ? "" : text::toLower(txn->rcptTo().front().address());
    auto from = dmarc::parseMailboxList(txn->header("From"));
    if (from.ok() && !from.mailboxes.empty()) {
      options.from_address =
          text::toLower(from.mailboxes.front().local_part + "@" + from.mailboxes.front().domain);
    } else {
      host_->log(LogLevel::Info, "the bounce's From could not be parsed", &connection);
    }
    const auto verdict = verify(findBounceFields(*txn->body()), options);
    switch (verdict.type) {
    case Verdict::Type::Pass:
      txn->results().add(name, {{"pass", "validate_bounce"}});
      return iniFlag(cfg_, "skip", "remaining_plugins") ? next(Code::Ok) : next();
    case Verdict::Type::Skip:
      txn->results().add(name, {{"skip", "validate_bounce"}, {"msg", verdict.msg}});
      return next();
    case Verdict::Type::Fail:
      break;
    }
    txn->results().add(name, {{"fail", verdict.value}, {"msg", verdict.msg}});
    if (iniFlag(cfg_, "reject", verdict.reject_on)) {
      return next(Code::Deny, "invalid bounce");
    }
    next();
  }

  void bounceSpf(const Next& next, Connection& connection, const HookParams&) {
    auto* txn = open(connection);
    if (txn == nullptr || txn->body() == nullptr || !iniFlag(cfg_, "check", "bounce_spf") ||
        txn->results().has(host_->pluginName(), "pass", "validate_bounce") ||
        txn->rcptTo().empty()) {
      return next();
    }
    const auto& name = host_->pluginName();
    auto ips =
        receivedIps(*txn->body(), static_cast<std::size_t>(std::max(1LL, max_received_ips_)));
    if (ips.empty()) {
      host_->log(LogLevel::Info, "No received headers found in message", &connection);
      txn->results().add(name,
                         {{"skip", "bounce_spf"}, {"msg", "no IP addresses found in message"}});
      return next();
    }
    Connection* conn = &connection;
    auto answer =
        deadlines_.start(static_cast<std::uint64_t>(lookup_timeout_) * 1000ULL, [this, next, conn] {
          if (next.pending() && conn->transaction() != nullptr) {
            conn->transaction()->results().add(host_->pluginName(),
                                               {{"skip", "bounce_spf"}, {"msg", "SPF timed out"}});
            next();
          }
        });
    checkIps(std::make_shared<std::vector<std::string>>(std::move(ips)), 0, txn->rcptTo().front(),
             [this, next, conn, answer](Verdict verdict, std::string ip) {
               if (!answer->claim() || !next.pending() || conn->transaction() == nullptr) {
                 return;
               }
               auto& results = conn->transaction()->results();
               const auto& plugin = host_->pluginName();
               switch (verdict.type) {
               case Verdict::Type::Pass:
                 host_->log(LogLevel::Info, fmt::format("valid bounce originated from {}", ip),
                            conn);
                 results.add(plugin, {{"pass", "bounce_spf"}});
                 return next();
               case Verdict::Type::Skip:
                 results.add(plugin, {{"skip", "bounce_spf"}, {"msg", verdict.msg}});
                 return next();
               case Verdict::Type::Fail:
                 break;
               }
               results.add(plugin, {{"fail", "bounce_spf"}, {"msg", verdict.msg}});
               if (iniFlag(cfg_, "reject", "bounce_spf")) {
                 return next(Code::Deny, "Invalid bounce (spoofed sender)");
               }
               next();
             });
  }

  // SPF of the recipient's domain for each address in turn, until one passes or gives no
  // verdict (none, temperror, permerror: every other would too).
  void checkIps(std::shared_ptr<std::vector<std::string>> ips, std::size_t index,
                const Address& rcpt, std::function<void(Verdict, std::string)> done) {
    if (index >= ips->size()) {
      return done({Verdict::Type::Fail, "bounce_spf", "invalid bounce (spoofed sender)", ""}, "");
    }
    upesi::spf::CheckRequest request;
    request.client_ip = (*ips)[index];
    request.sender = rcpt.address();
    request.domain = rcpt.host;
    request.helo = rcpt.host;
    request.receiver = host_->me();
    request.now = now();
    Host* host = host_;
    upesi::spf::checkHost(
        std::move(request),
        [host, alive = deadlines_.alive()](const std::string& name, DnsType type,
                                           DnsCallback callback) {
          if (!*alive) {
            return callback(DnsResult{DnsStatus::Error, "cancelled", {}});
          }
          host->dnsQuery(name, type, std::move(callback));
        },
        [this, ips, index, rcpt, done,
         alive = deadlines_.alive()](upesi::spf::CheckOutcome outcome) {
          if (!*alive) {
            return;
          }
          using upesi::spf::CheckResult;
          switch (outcome.result) {
          case CheckResult::None:
          case CheckResult::TempError:
          case CheckResult::PermError:
            return done({Verdict::Type::Skip, "",
                         fmt::format("SPF returned {}", upesi::spf::resultName(outcome.result)),
                         ""},
                        (*ips)[index]);
          case CheckResult::Pass:
            return done({Verdict::Type::Pass, "", "", ""}, (*ips)[index]);
          default:
            return checkIps(ips, index + 1, rcpt, done);
          }
        });
  }

  // Our own mail carries the hash a genuine bounce of it will bring back.
  void addValidationHash(const Next& next, Connection& connection, const HookParams&) {
    auto* txn = connection.transaction();
    if (txn == nullptr || !hash_validation_ || txn->mailFrom().is_null) {
      return next();
    }
    const auto from = hashInput(txn->header("From"));
    const auto date = hashInput(txn->header("Date"));
    const auto message_id = hashInput(txn->header("Message-ID"));
    if (from.empty() || date.empty() || message_id.empty()) {
      return next();
    }
    if (auto hash = computeHash(algorithm_, secret_, from, date, message_id)) {
      txn->removeHeader(HashHeader); // one hash, ours
      txn->addHeader(HashHeader, *hash);
    }
    next();
  }

  Host* host_ = nullptr;
  nlohmann::json cfg_;
  std::vector<std::string> bad_rcpts_;
  nlohmann::json whitelist_;
  std::string algorithm_ = "sha256";
  std::string secret_;
  long long max_age_days_ = DefaultMaxHashAgeDays;
  long long lookup_timeout_ = DefaultLookupTimeout;
  long long max_received_ips_ = DefaultMaxReceivedIps;
  bool hash_validation_ = false;
  AnswerDeadlines deadlines_;
};

} // namespace upesi::plugins::bounce

std::unique_ptr<upesi::Plugin> upesi_builtin_bounce() {
  return std::make_unique<upesi::plugins::bounce::Bounce>();
}
