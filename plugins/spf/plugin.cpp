// spf: Sender Policy Framework (RFC 7208) for the HELO name and the MAIL FROM domain, with
// Haraka's spf.ini: results recorded, a Received-SPF header per identity, and deny/defer per
// result only where the config asks.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>
#include <upesi/text.hpp>

#include "common/auth/received_spf.hpp"
#include "common/auth/spf_check.hpp"
#include "common/config/ini_values.hpp"
#include "common/util/ip_literal.hpp"
#include "plugins/support/answer_deadlines.hpp"
#include "plugins/support/skip_reason.hpp"

#include <fmt/format.h>

#include <ctime>
#include <memory>
#include <string>
#include <vector>

namespace upesi::plugins::spf {

using config::iniFlag;
using config::iniString;

using upesi::spf::CheckOutcome;
using upesi::spf::CheckResult;
namespace {

const std::vector<std::string> Booleans = {"-defer.helo_temperror",
                                           "-defer.mfrom_temperror",
                                           "-defer_relay.helo_temperror",
                                           "-defer_relay.mfrom_temperror",
                                           "-deny.helo_none",
                                           "-deny.helo_softfail",
                                           "-deny.helo_fail",
                                           "-deny.helo_permerror",
                                           "-deny.mfrom_none",
                                           "-deny.mfrom_softfail",
                                           "-deny.mfrom_fail",
                                           "-deny.mfrom_permerror",
                                           "-deny.openspf_text",
                                           "-deny_relay.helo_none",
                                           "-deny_relay.helo_softfail",
                                           "-deny_relay.helo_fail",
                                           "-deny_relay.helo_permerror",
                                           "-deny_relay.mfrom_none",
                                           "-deny_relay.mfrom_softfail",
                                           "-deny_relay.mfrom_fail",
                                           "-deny_relay.mfrom_permerror",
                                           "-deny_relay.openspf_text",
                                           "+skip.relaying",
                                           "+skip.auth",
                                           "+skip.private_ip"};

constexpr unsigned DefaultLookupTimeout = 20; // seconds: RFC 7208 section 4.6.4's minimum

// Haraka's names for the results, as its plugins read them from results.
std::string harakaName(CheckResult result) {
  switch (result) {
  case CheckResult::None:
    return "None";
  case CheckResult::Neutral:
    return "Neutral";
  case CheckResult::Pass:
    return "Pass";
  case CheckResult::Fail:
    return "Fail";
  case CheckResult::SoftFail:
    return "SoftFail";
  case CheckResult::TempError:
    return "TempError";
  case CheckResult::PermError:
    return "PermError";
  }
  return "None";
}

nlohmann::json outcomeJson(const CheckOutcome& outcome) {
  nlohmann::json json = {{"result", std::string(resultName(outcome.result))},
                         {"domain", outcome.domain}};
  if (!outcome.mechanism.empty()) {
    json["mechanism"] = outcome.mechanism;
  }
  if (!outcome.problem.empty()) {
    json["problem"] = outcome.problem;
  }
  if (!outcome.explanation.empty()) {
    json["explanation"] = outcome.explanation;
  }
  return json;
}

CheckOutcome outcomeFrom(const nlohmann::json& json) {
  CheckOutcome outcome;
  const std::string result = json.value("result", "none");
  for (auto candidate :
       {CheckResult::None, CheckResult::Neutral, CheckResult::Pass, CheckResult::Fail,
        CheckResult::SoftFail, CheckResult::TempError, CheckResult::PermError}) {
    if (resultName(candidate) == result) {
      outcome.result = candidate;
    }
  }
  outcome.domain = json.value("domain", "");
  outcome.mechanism = json.value("mechanism", "");
  outcome.problem = json.value("problem", "");
  outcome.explanation = json.value("explanation", "");
  return outcome;
}

} // namespace

class Spf final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    deadlines_.attach(host);
    load();
    host.onConfigChange("spf.ini", [this] { load(); });
    auto helo = [this](Next next, Connection& c, const HookParams& p) { checkHelo(next, c, p); };
    registrar.registerHook(Hook::Helo, helo, 0, "helo_spf");
    registrar.registerHook(Hook::Ehlo, helo, 0, "helo_spf");
    registrar.registerHook(
        Hook::Mail,
        [this](Next next, Connection& c, const HookParams& p) { checkMailFrom(next, c, p); }, 0,
        "hook_mail");
    registrar.registerHook(
        Hook::DataPost,
        [this](Next next, Connection& c, const HookParams&) { addHeaders(next, c); }, 0,
        "hook_data_post");
  }

  void shutdown() override { deadlines_.shutdown(); }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"spf.ini", "ini", Booleans}};
  }

private:
  void load() {
    cfg_ = host_->config("spf.ini", "ini", Booleans);
    lookup_timeout_ = DefaultLookupTimeout;
    auto timeout = iniString(cfg_, "main", "lookup_timeout");
    if (!timeout.empty()) {
      try {
        lookup_timeout_ = static_cast<unsigned>(std::stoul(timeout));
      } catch (const std::exception&) {
        host_->log(LogLevel::Error, fmt::format("spf.ini [main] lookup_timeout={} is not a "
                                                "number of seconds; using {}",
                                                timeout, DefaultLookupTimeout));
      }
    }
  }

  // Runs check_host() with the plugin's timeout; `done` runs on the loop once, or never when the
  // hook is no longer pending (the client left).
  void evaluate(const Next& next, upesi::spf::CheckRequest request,
                std::function<void(CheckOutcome)> done) {
    const std::string domain = request.domain;
    auto answer = deadlines_.start(lookup_timeout_ * 1000ULL, [this, next, domain, done] {
      CheckOutcome outcome;
      outcome.result = CheckResult::TempError;
      outcome.domain = domain;
      outcome.problem = fmt::format("no result within {} s", lookup_timeout_);
      if (next.pending()) {
        done(std::move(outcome));
      }
    });
    Host* host = host_;
    // A lookup may answer after shutdown(), when neither this plugin nor its host is left.
    upesi::spf::checkHost(
        std::move(request),
        [host, alive = deadlines_.alive()](const std::string& name, DnsType type,
                                           DnsCallback callback) {
          if (!*alive) {
            return callback(DnsResult{DnsStatus::Error, "cancelled", {}});
          }
          host->dnsQuery(name, type, std::move(callback));
        },
        [answer, next, done](CheckOutcome outcome) {
          if (answer->claim() && next.pending()) {
            done(std::move(outcome));
          }
        });
  }

  upesi::spf::CheckRequest requestFor(Connection& connection, std::string sender,
                                      std::string domain) const {
    upesi::spf::CheckRequest request;
    request.client_ip = connection.remote().ip;
    if (connection.relaying() && iniString(cfg_, "relay", "context") == "myself") {
      // Checked as the next hop will check it: from our own public address.
      auto mine = iniString(cfg_, "relay", "public_ip");
      if (!mine.empty()) {
        request.client_ip = mine;
      }
    }
    request.sender = std::move(sender);
    request.helo = connection.helloHost();
    request.domain = std::move(domain);
    request.receiver = host_->me();
    request.now = static_cast<std::int64_t>(std::time(nullptr));
    return request;
  }

  void checkHelo(const Next& next, Connection& connection, const HookParams& params) {
    const auto& name = host_->pluginName();
    if (auto reason = skipReason(cfg_, connection); !reason.empty()) {
      connection.results().add(name, {{"skip", fmt::format("helo({})", reason)}});
      return next();
    }
    const std::string helo(params.host);
    // RFC 7208 section 2.3: an address literal or a malformed name has no HELO identity.
    if (helo.empty() || helo.front() == '[' || isIpLiteral(helo)) {
      connection.results().add(name, {{"skip", "helo(ip_literal)"}});
      return next();
    }
    auto& notes = connection.notes();
    if (notes.contains("spf_helo") && notes["spf_helo"].value("domain", "") == helo) {
      return next(); // the same name again: the first answer stands
    }
    Connection* conn = &connection;
    evaluate(next, requestFor(connection, "postmaster@" + helo, helo),
             [this, next, conn, helo](CheckOutcome outcome) {
               logOutcome(*conn, "helo", "postmaster@" + helo, outcome);
               conn->notes()["spf_helo"] = outcomeJson(outcome);
               const auto& plugin = host_->pluginName();
               conn->results().add(
                   plugin,
                   {{"scope", "helo"}, {"result", harakaName(outcome.result)}, {"domain", helo}});
               if (outcome.result == CheckResult::Pass) {
                 conn->results().add(plugin, {{"pass", helo}});
               }
               next();
             });
  }

  void checkMailFrom(const Next& next, Connection& connection, const HookParams& params) {
    auto* txn = connection.transaction();
    if (txn == nullptr || params.address == nullptr) {
      return next();
    }
    const auto& name = host_->pluginName();
    if (auto reason = skipReason(cfg_, connection); !reason.empty()) {
      txn->results().add(name, {{"skip", fmt::format("host({})", reason)}});
      return next(Code::Cont, fmt::format("skipped because host({})", reason));
    }
    const Address& from = *params.address;
    if (from.is_null || from.host.empty()) {
      // A bounce: the HELO identity is all there is (RFC 7208 section 2.4).
      const auto& notes = connection.notes();
      if (!notes.contains("spf_helo")) {
        return next();
      }
      auto outcome = outcomeFrom(notes["spf_helo"]);
      recordAuthResult(*txn, outcome, "smtp.helo", connection.helloHost());
      return act(next, connection, "helo", outcome,
                 fmt::format("sender <> via {}", connection.helloHost()));
    }
    Connection* conn = &connection;
    const std::string address = from.address();
    evaluate(next, requestFor(connection, address, from.host),
             [this, next, conn, address](CheckOutcome outcome) {
               auto* open = conn->transaction();
               if (open == nullptr) {
                 return next();
               }
               logOutcome(*conn, "mfrom", address, outcome);
               open->notes()["spf_mail_result"] = harakaName(outcome.result);
               open->notes()["spf_mfrom"] = outcomeJson(outcome);
               const auto& plugin = host_->pluginName();
               open->results().add(plugin, {{"scope", "mfrom"},
                                            {"result", harakaName(outcome.result)},
                                            {"domain", outcome.domain}});
               if (outcome.result == CheckResult::Pass) {
                 conn->results().add(plugin, {{"pass", outcome.domain}});
               }
               recordAuthResult(*open, outcome, "smtp.mailfrom", address);
               act(next, *conn, "mfrom", outcome, fmt::format("sender <{}>", address));
             });
  }

  // What the Authentication-Results header will say (RFC 8601 section 2.7.2).
  void recordAuthResult(Transaction& txn, const CheckOutcome& outcome, const std::string& property,
                        const std::string& value) {
    nlohmann::json entry = {{"method", "spf"},
                            {"result", std::string(resultName(outcome.result))},
                            {"properties", {{property, value}}}};
    txn.results().push(host_->pluginName(), {{"auth_results", entry}});
  }

  void act(const Next& next, Connection& connection, const std::string& scope,
           const CheckOutcome& outcome, const std::string& sender) {
    const std::string deny = connection.relaying() ? "deny_relay" : "deny";
    const std::string defer = connection.relaying() ? "defer_relay" : "defer";
    std::string text;
    switch (outcome.result) {
    case CheckResult::None:
      text = "SPF record not found";
      break;
    case CheckResult::SoftFail:
      text = "SPF SoftFail";
      break;
    case CheckResult::Fail:
      text = outcome.explanation.empty() ? "SPF Fail" : "SPF Fail: " + outcome.explanation;
      break;
    case CheckResult::PermError:
      text = "SPF Permanent Error";
      break;
    case CheckResult::TempError:
      if (iniFlag(cfg_, defer, scope + "_temperror")) {
        return next(Code::DenySoft, fmt::format("{} SPF Temporary Error", sender));
      }
      return next();
    case CheckResult::Pass:
    case CheckResult::Neutral:
      return next();
    }
    const std::string key = scope + "_" + text::toLower(std::string(resultName(outcome.result)));
    if (!iniFlag(cfg_, deny, key)) {
      return next();
    }
    if (iniFlag(cfg_, deny, "openspf_text")) {
      return next(Code::Deny, fmt::format("http://www.openspf.org/Why?s={}&id={}&ip={}", scope,
                                          scope == "helo" ? connection.helloHost() : sender,
                                          connection.remote().ip));
    }
    next(Code::Deny, fmt::format("{} {}", sender, text));
  }

  void logOutcome(Connection& connection, const std::string& scope, const std::string& sender,
                  const CheckOutcome& outcome) {
    std::string line =
        fmt::format("identity={} ip={} domain=\"{}\" mfrom=<{}> result={}", scope,
                    connection.remote().ip, outcome.domain, sender, harakaName(outcome.result));
    if (!outcome.problem.empty()) {
      line += fmt::format(" problem=\"{}\"", outcome.problem);
    }
    host_->log(LogLevel::Info, line, &connection);
  }

  void addHeaders(const Next& next, Connection& connection) {
    auto* txn = connection.transaction();
    if (txn == nullptr) {
      return next();
    }
    const auto& notes = connection.notes();
    upesi::spf::ReceivedSpfFields fields;
    fields.receiver = host_->me();
    fields.client_ip = connection.remote().ip;
    fields.helo = connection.helloHost();
    if (txn->notes().contains("spf_mfrom")) {
      fields.identity = "mailfrom";
      fields.envelope_from = txn->mailFrom().address();
      txn->addLeadingHeader("Received-SPF",
                            receivedSpfValue(outcomeFrom(txn->notes()["spf_mfrom"]), fields));
    }
    if (notes.contains("spf_helo")) {
      fields.identity = "helo";
      fields.envelope_from = txn->mailFrom().is_null ? "" : txn->mailFrom().address();
      txn->addLeadingHeader("Received-SPF",
                            receivedSpfValue(outcomeFrom(notes["spf_helo"]), fields));
    }
    next();
  }

  Host* host_ = nullptr;
  nlohmann::json cfg_;
  unsigned lookup_timeout_ = DefaultLookupTimeout;
  AnswerDeadlines deadlines_;
};

} // namespace upesi::plugins::spf

std::unique_ptr<upesi::Plugin> upesi_builtin_spf() {
  return std::make_unique<upesi::plugins::spf::Spf>();
}
