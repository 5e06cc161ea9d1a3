// mail_from.is_resolvable: the MAIL FROM domain must be somewhere mail can go back to — an MX
// whose host has a usable address, or (no MX, RFC 5321 section 5.1) a usable A/AAAA record of
// its own; a null MX (RFC 7505) is refused. Haraka's mail_from.is_resolvable.ini: what cannot
// resolve is refused as [reject] no_mx says, what could not be asked now is deferred.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include "common/config/ini_values.hpp"
#include "common/dns/mx_resolver.hpp"
#include "common/util/ip_literal.hpp"
#include "plugins/mail_from.is_resolvable/bogus_address.hpp"
#include "plugins/support/answer_deadlines.hpp"
#include "plugins/support/skip_reason.hpp"

#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

namespace upesi::plugins::mail_from_is_resolvable {

using config::iniFlag;
using config::iniInteger;
using config::iniString;
using dns::MxPlan;

namespace {

const std::vector<std::string> Booleans = {"-main.allow_mx_ip", "+skip.relaying", "+skip.auth",
                                           "-skip.private_ip"};

constexpr std::uint64_t DefaultTimeoutMs = 5000; // Haraka's timeout_ms
constexpr long long DefaultMaxMxHosts = 10;

// What [reject] no_mx asks for a domain mail cannot go back to.
enum class NoMxAction { Deny, Defer, Accept };

NoMxAction noMxAction(const std::string& value) {
  if (value == "no") {
    return NoMxAction::Accept;
  }
  if (value == "defer" || value == "false") {
    return NoMxAction::Defer;
  }
  return NoMxAction::Deny;
}

// Node's resolver error codes, as Haraka's replies name them.
std::string errorCode(DnsStatus status) {
  switch (status) {
  case DnsStatus::ServFail:
    return "ESERVFAIL";
  case DnsStatus::Timeout:
    return "ETIMEOUT";
  case DnsStatus::NxDomain:
    return "ENOTFOUND";
  case DnsStatus::NoData:
    return "ENODATA";
  default:
    return "EREFUSED";
  }
}

bool temporary(DnsStatus status) {
  return status == DnsStatus::ServFail || status == DnsStatus::Timeout ||
         status == DnsStatus::Error;
}

struct Settings {
  bool allow_mx_ip = false;
  NoMxAction no_mx = NoMxAction::Deny;
  std::uint64_t timeout_ms = DefaultTimeoutMs;
  std::size_t max_mx_hosts = DefaultMaxMxHosts;
  std::shared_ptr<const BogusAddress> bogus = std::make_shared<BogusAddress>();
};

// One MAIL FROM's check: the lookups' worst temporary failure is remembered, so that a domain
// whose addresses could not be asked is deferred rather than refused.
struct Check {
  Next next;
  Connection* connection;
  std::string domain;
  Settings settings;
  std::shared_ptr<PendingAnswer> answer;
  DnsStatus temporary_failure = DnsStatus::Ok;
};

} // namespace

class MailFromIsResolvable final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    deadlines_.attach(host);
    load();
    host.onConfigChange("mail_from.is_resolvable.ini", [this] { load(); });
    registrar.registerHook(
        Hook::Mail, [this](Next next, Connection& c, const HookParams& p) { check(next, c, p); }, 0,
        "hook_mail");
  }

  void shutdown() override { deadlines_.shutdown(); }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"mail_from.is_resolvable.ini", "ini", Booleans}};
  }

private:
  void load() {
    cfg_ = host_->config("mail_from.is_resolvable.ini", "ini", Booleans);
    Settings settings;
    settings.allow_mx_ip = iniFlag(cfg_, "main", "allow_mx_ip");
    // [main] reject_no_mx is the key's name before Haraka moved it to [reject] no_mx.
    settings.no_mx = noMxAction(
        iniString(cfg_, "reject", "no_mx", iniString(cfg_, "main", "reject_no_mx", "deny")));
    if (auto ms = iniInteger(cfg_, "main", "timeout_ms"); ms && *ms > 0) {
      settings.timeout_ms = static_cast<std::uint64_t>(*ms);
    } else if (auto seconds = iniInteger(cfg_, "main", "timeout"); seconds && *seconds > 0) {
      settings.timeout_ms = static_cast<std::uint64_t>(*seconds) * 1000; // Haraka before 1.3
    }
    if (auto hosts = iniInteger(cfg_, "main", "max_mx_hosts"); hosts && *hosts > 0) {
      settings.max_mx_hosts = static_cast<std::size_t>(*hosts);
    }
    const auto pattern = iniString(cfg_, "main", "re_bogus_ip");
    if (!pattern.empty()) {
      try {
        settings.bogus = std::make_shared<BogusAddress>(pattern);
      } catch (const std::regex_error& error) {
        host_->log(LogLevel::Error,
                   fmt::format("mail_from.is_resolvable.ini [main] re_bogus_ip={} does not "
                               "compile ({}); using the default",
                               pattern, error.what()));
      }
    }
    settings_ = std::move(settings);
  }

  void check(const Next& next, Connection& connection, const HookParams& params) {
    auto* txn = connection.transaction();
    if (txn == nullptr || params.address == nullptr) {
      return next();
    }
    const auto& name = host_->pluginName();
    if (params.address->host.empty()) {
      txn->results().add(name, {{"skip", "null host"}});
      return next();
    }
    if (params.address->host.front() == '[') {
      txn->results().add(name, {{"skip", "address literal"}}); // no name to look up
      return next();
    }
    if (auto reason = skipReason(cfg_, connection); !reason.empty()) {
      txn->results().add(name, {{"skip", reason}});
      return next();
    }
    auto job = std::make_shared<Check>(Check{next, &connection, params.address->host, settings_});
    const auto timeout_ms = job->settings.timeout_ms;
    job->answer = deadlines_.start(timeout_ms, [this, job, timeout_ms] {
      // The deadline has claimed the answer already.
      if (auto* open = job->next.pending() ? job->connection->transaction() : nullptr) {
        deferred(*job, *open, fmt::format("MX lookup timed out after {}ms", timeout_ms),
                 "ETIMEOUT");
      }
    });
    resolver(job).lookupMx(job->domain, [this, job](MxPlan plan) {
      // Answered: timed out, or the plugin (this) is gone.
      if (!job->answer->answered()) {
        planned(job, std::move(plan));
      }
    });
  }

  // Every question goes through here: after shutdown nothing is asked, and a temporary failure
  // is remembered for the verdict.
  dns::MxResolver resolver(const std::shared_ptr<Check>& job) const {
    Host* host = host_;
    return dns::MxResolver([host, job, alive = deadlines_.alive()](const std::string& name,
                                                                   DnsType type, DnsCallback done) {
      if (!*alive) {
        return done(DnsResult{DnsStatus::Error, "cancelled", {}});
      }
      host->dnsQuery(name, type, [job, done = std::move(done)](DnsResult result) {
        if (temporary(result.status)) {
          job->temporary_failure = result.status;
        }
        done(std::move(result));
      });
    });
  }

  void planned(const std::shared_ptr<Check>& job, MxPlan plan) {
    switch (plan.kind) {
    case MxPlan::Kind::TempFail:
      return tempFail(*job, plan.reason, errorCode(job->temporary_failure));
    case MxPlan::Kind::NoDomain:
      return refuse(*job, "has_fwd_dns", "No MX for your FROM address");
    case MxPlan::Kind::NullMx:
      return nullMx(*job);
    case MxPlan::Kind::Implicit:
    case MxPlan::Kind::Hosts:
      break;
    }
    const bool implicit = plan.kind == MxPlan::Kind::Implicit;
    std::vector<dns::MxHost> names;
    for (const auto& mx : plan.hosts) {
      if (!isIpLiteral(mx.exchange)) {
        if (names.size() < job->settings.max_mx_hosts) {
          names.push_back(mx);
        }
      } else if (job->settings.allow_mx_ip && !(*job->settings.bogus)(mx.exchange)) {
        return pass(*job, "implicit_mx");
      }
    }
    if (names.empty()) {
      return refuse(*job, "has_fwd_dns", "No valid MX for your FROM address");
    }
    resolver(job).lookupTargets(std::move(names), dns::TargetRules{true, false},
                                [this, job, implicit](dns::MxTargets targets) {
                                  if (!job->answer->answered()) {
                                    resolved(job, implicit, targets);
                                  }
                                });
  }

  void resolved(const std::shared_ptr<Check>& job, bool implicit, const dns::MxTargets& found) {
    for (const auto& target : found.targets) {
      if (!(*job->settings.bogus)(target.ip)) {
        return pass(*job, implicit ? "implicit_mx" : "has_fwd_dns");
      }
    }
    if (job->temporary_failure != DnsStatus::Ok) {
      return tempFail(*job, fmt::format("{}: {}", job->domain, found.error),
                      errorCode(job->temporary_failure));
    }
    if (implicit && found.targets.empty()) {
      return refuse(*job, "has_fwd_dns", "No MX for your FROM address");
    }
    refuse(*job, "has_fwd_dns", "No valid MX for your FROM address");
  }

  Transaction* claim(Check& job) {
    if (!job.answer->claim() || !job.next.pending()) {
      return nullptr;
    }
    return job.connection->transaction();
  }

  void pass(Check& job, const std::string& what) {
    if (auto* txn = claim(job)) {
      txn->results().add(host_->pluginName(), {{"pass", what}});
      emit(job);
      job.next();
    }
  }

  void refuse(Check& job, const std::string& what, const std::string& text) {
    auto* txn = claim(job);
    if (txn == nullptr) {
      return;
    }
    txn->results().add(host_->pluginName(), {{"fail", what}});
    emit(job);
    switch (job.settings.no_mx) {
    case NoMxAction::Accept:
      return job.next();
    case NoMxAction::Defer:
      return job.next(Code::DenySoft, text);
    case NoMxAction::Deny:
      return job.next(Code::Deny, text);
    }
  }

  // RFC 7505 section 4.2: 550 with 5.7.27, whatever no_mx says, unless it says "no".
  void nullMx(Check& job) {
    auto* txn = claim(job);
    if (txn == nullptr) {
      return;
    }
    txn->results().add(host_->pluginName(), {{"fail", "null_mx"}});
    emit(job);
    if (job.settings.no_mx == NoMxAction::Accept) {
      return job.next();
    }
    job.next(Code::Deny, fmt::format("5.7.27 Null MX: {} does not send mail", job.domain));
  }

  void tempFail(Check& job, const std::string& error, const std::string& code) {
    if (auto* txn = claim(job)) {
      deferred(job, *txn, error, code);
    }
  }

  void deferred(Check& job, Transaction& txn, const std::string& error, const std::string& code) {
    txn.results().add(host_->pluginName(), {{"err", error}});
    emit(job);
    job.next(Code::DenySoft, fmt::format("Temp. resolver error ({})", code));
  }

  // Haraka's results emit: the verdict in the log.
  void emit(Check& job) {
    auto* txn = job.connection->transaction();
    host_->log(LogLevel::Info,
               fmt::format("{}: {}", job.domain, txn->results().collate(host_->pluginName())),
               job.connection);
  }

  Host* host_ = nullptr;
  nlohmann::json cfg_;
  Settings settings_;
  AnswerDeadlines deadlines_;
};

} // namespace upesi::plugins::mail_from_is_resolvable

std::unique_ptr<upesi::Plugin> upesi_builtin_mail_from_is_resolvable() {
  return std::make_unique<upesi::plugins::mail_from_is_resolvable::MailFromIsResolvable>();
}
