// dmarc: DMARC (RFC 7489) at data_post, from the spf and dkim plugins' results: the policy of
// the From domain, alignment, the action for its disposition, an Authentication-Results entry,
// and one aggregate-report row a message in a JSON Lines file per day.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>
#include <upesi/text.hpp>

#include "common/auth/dmarc_evaluation.hpp"
#include "common/auth/from_domain.hpp"
#include "common/auth/public_suffix.hpp"
#include "common/config/ini_values.hpp"
#include "plugins/support/skip_reason.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace upesi::plugins::dmarc {

using config::iniFlag;
using config::iniString;

using namespace upesi::dmarc;
namespace {

const std::vector<std::string> Booleans = {"+reporting.enabled", "+skip.relaying", "+skip.auth"};

constexpr unsigned DefaultLookupTimeout = 10; // seconds
// Author domains evaluated for one message (two lookups each); more is a permerror.
constexpr std::size_t MaxAuthorDomains = 8;

// Every author domain of the From fields (RFC 7489 section 6.6.1): with several fields, several
// domains or addresses without a domain beside them, each domain found is evaluated, so that
// an added address cannot hide a domain's policy.
std::vector<std::string> authorDomains(const std::vector<std::string>& from_values,
                                       const FromDomain& from) {
  if (from.ok()) {
    return {from.domain};
  }
  std::vector<std::string> domains;
  for (const auto& value : from_values) {
    for (const auto& mailbox : parseMailboxList(value).mailboxes) {
      // fromDomain's checks and normalization, for this mailbox's domain alone.
      auto one = fromDomain({"x@" + mailbox.domain});
      if (one.ok() && std::find(domains.begin(), domains.end(), one.domain) == domains.end()) {
        domains.push_back(one.domain);
      }
    }
  }
  return domains;
}

int strictness(Policy policy) {
  switch (policy) {
  case Policy::Reject:
    return 2;
  case Policy::Quarantine:
    return 1;
  case Policy::None:
    return 0;
  }
  return 0;
}

// The spf plugin records Haraka's names ("Pass", "SoftFail"); the dkim plugin RFC 8601's.
AuthResult authResultFrom(std::string name) {
  name = text::toLower(name);
  if (name == "pass") {
    return AuthResult::Pass;
  }
  if (name == "fail") {
    return AuthResult::Fail;
  }
  if (name == "softfail") {
    return AuthResult::SoftFail;
  }
  if (name == "neutral") {
    return AuthResult::Neutral;
  }
  if (name == "policy") {
    return AuthResult::Policy;
  }
  if (name == "temperror") {
    return AuthResult::TempError;
  }
  if (name == "permerror") {
    return AuthResult::PermError;
  }
  return AuthResult::None;
}

TxtAnswer txtAnswerFrom(const DnsResult& result) {
  TxtAnswer answer;
  switch (result.status) {
  case DnsStatus::Ok:
  case DnsStatus::NoData:
    answer.status = TxtAnswer::Status::Answered;
    for (const auto& record : result.records) {
      answer.txts.push_back(record.value);
    }
    break;
  case DnsStatus::NxDomain:
    answer.status = TxtAnswer::Status::NxDomain;
    break;
  default:
    answer.status = TxtAnswer::Status::TempError;
    break;
  }
  return answer;
}

nlohmann::json methodResultJson(const auth::MethodResult& result) {
  nlohmann::json json = {{"method", result.method}, {"result", result.result}};
  if (!result.comment.empty()) {
    json["comment"] = result.comment;
  }
  if (!result.reason.empty()) {
    json["reason"] = result.reason;
  }
  nlohmann::json properties = nlohmann::json::object();
  for (const auto& property : result.properties) {
    properties[property.type + "." + property.name] = property.value;
  }
  json["properties"] = properties;
  return json;
}

std::string alignmentName(Alignment alignment) {
  return alignment == Alignment::Strict ? "s" : "r";
}

// RFC 7489 appendix C's <record> and <policy_published>, as JSON.
nlohmann::json reportRowJson(const ReportRow& row, std::int64_t now) {
  nlohmann::json dkim = nlohmann::json::array();
  for (const auto& signature : row.dkim) {
    dkim.push_back({{"domain", signature.domain},
                    {"selector", signature.selector},
                    {"result", std::string(authResultName(signature.result))}});
  }
  nlohmann::json published = {{"domain", row.published_domain},
                              {"adkim", alignmentName(row.adkim)},
                              {"aspf", alignmentName(row.aspf)},
                              {"p", std::string(policyName(row.p))},
                              {"sp", std::string(policyName(row.sp))},
                              {"pct", row.pct},
                              {"fo", row.fo}};
  if (row.np) {
    published["np"] = std::string(policyName(*row.np));
  }
  nlohmann::json evaluated = {{"disposition", std::string(policyName(row.disposition))},
                              {"dkim", row.dkim_pass ? "pass" : "fail"},
                              {"spf", row.spf_pass ? "pass" : "fail"}};
  if (!row.reason.empty()) {
    evaluated["reason"] = row.reason;
  }
  return {{"time", now},
          {"source_ip", row.source_ip},
          {"count", row.count},
          {"policy_evaluated", evaluated},
          {"identifiers",
           {{"header_from", row.header_from},
            {"envelope_from", row.envelope_from},
            {"envelope_to", row.envelope_to}}},
          {"auth_results",
           {{"dkim", dkim},
            {"spf",
             {{"domain", row.spf_domain},
              {"scope", row.spf_scope},
              {"result", std::string(authResultName(row.spf_result))}}}}},
          {"policy_published", published}};
}

// One line appended with O_APPEND, so rows of every worker interleave whole.
std::string appendLine(const std::filesystem::path& file, const std::string& line) {
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  int fd = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fd < 0) {
    return fmt::format("{}: {}", file.string(), std::strerror(errno));
  }
  std::string error;
  const std::string data = line + "\n";
  if (::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) {
    error = fmt::format("{}: {}", file.string(), std::strerror(errno));
  }
  if (::close(fd) != 0 && error.empty()) {
    error = fmt::format("{}: {}", file.string(), std::strerror(errno));
  }
  return error;
}

std::string utcDay(std::int64_t now) {
  std::time_t seconds = static_cast<std::time_t>(now);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

} // namespace

class Dmarc final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    load();
    host.onConfigChange("dmarc.ini", [this] { load(); });
    // After the default priority, so that spf and dkim have recorded their results.
    registrar.registerHook(
        Hook::DataPost, [this](Next next, Connection& c, const HookParams&) { check(next, c); }, 50,
        "hook_data_post");
  }

  void shutdown() override {
    *alive_ = false;
    for (auto id : timers_) {
      host_->clearTimeout(id);
    }
    timers_.clear();
  }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"dmarc.ini", "ini", Booleans}};
  }

private:
  struct Check {
    Next next;
    Connection* connection;
    EvaluationInput input; // for domains[next_domain]
    std::vector<std::string> domains;
    std::size_t next_domain = 0;
    std::vector<Evaluation> evaluations; // one per domain, in order
    bool answered = false;
    std::uint64_t timer = 0;
  };

  void load() {
    cfg_ = host_->config("dmarc.ini", "ini", Booleans);
    lookup_timeout_ = DefaultLookupTimeout;
    auto timeout = iniString(cfg_, "main", "lookup_timeout", "");
    if (!timeout.empty()) {
      try {
        lookup_timeout_ = static_cast<unsigned>(std::stoul(timeout));
      } catch (const std::exception&) {
        host_->log(
            LogLevel::Error,
            fmt::format("dmarc.ini [main] lookup_timeout={} is not a number of seconds", timeout));
      }
    }
    const auto path =
        iniString(cfg_, "main", "public_suffix_list", std::string(auth::DebianPublicSuffixList));
    if (path != list_path_) {
      auto list = auth::PublicSuffixList::load(path);
      if (!list) {
        host_->log(LogLevel::Error,
                   fmt::format("{}; organizational domains fall back to the last two labels "
                               "(install Debian's publicsuffix package)",
                               list.error()));
        list_ = std::make_shared<auth::PublicSuffixList>();
      } else {
        list_ = std::make_shared<auth::PublicSuffixList>(std::move(*list));
      }
      list_path_ = path;
    }
  }

  void check(const Next& next, Connection& connection) {
    auto* txn = connection.transaction();
    if (txn == nullptr) {
      return next();
    }
    const auto& name = host_->pluginName();
    if (auto reason = skipReason(cfg_, connection); !reason.empty()) {
      txn->results().add(name, {{"skip", reason}});
      return next();
    }
    const auto from_values = txn->headers("From");
    auto from = fromDomain(from_values);
    auto domains = authorDomains(from_values, from);
    if (domains.size() > MaxAuthorDomains) {
      // Not evaluated, so not let through either: more author domains than any real message
      // has would otherwise hide a failing domain's policy (RFC 7489 section 6.6.1 expects
      // such mail to be rejected).
      const auto detail = fmt::format("From names {} domains, more than the {} evaluated",
                                      domains.size(), MaxAuthorDomains);
      txn->results().add(name, {{"fail", "from"}, {"msg", detail}});
      return next(Code::Deny, "5.7.1 Message rejected: " + detail);
    }
    if (domains.empty()) {
      // RFC 7489 section 6.6.1: no single author domain, nothing DMARC can evaluate.
      txn->results().add(name, {{"skip", "from"}, {"msg", from.detail}});
      txn->results().push(name, {{"auth_results",
                                  {{"method", "dmarc"},
                                   {"result", "permerror"},
                                   {"reason", from.detail},
                                   {"properties", nlohmann::json::object()}}}});
      return next();
    }
    auto state = std::make_shared<Check>(Check{next, &connection, {}});
    state->domains = std::move(domains);
    state->input.spf = spfInput(connection, *txn);
    state->input.dkim = dkimInputs(*txn);
    state->input.source_ip = connection.remote().ip;
    state->input.envelope_from =
        txn->mailFrom().is_null ? connection.helloHost() : txn->mailFrom().host;
    state->timer = host_->setTimeout(lookup_timeout_ * 1000ULL, [this, state] {
      timers_.erase(state->timer);
      state->timer = 0;
      if (state->answered) {
        return;
      }
      // No answer in time: as a DNS failure would be, for this domain and those left.
      while (state->next_domain < state->domains.size()) {
        state->input.from_domain = state->domains[state->next_domain++];
        state->input.at_from = TxtAnswer{TxtAnswer::Status::TempError, {}};
        state->input.at_organizational.reset();
        state->evaluations.push_back(evaluate(state->input, *list_));
      }
      finish(state);
    });
    timers_.insert(state->timer);
    lookUp(state);
  }

  // Policy discovery for the next author domain; evaluates it, then goes on to the next.
  void lookUp(const std::shared_ptr<Check>& state) {
    state->input.from_domain = state->domains[state->next_domain];
    state->input.at_from = {};
    state->input.at_organizational.reset();
    // A lookup may answer after shutdown(), when neither this plugin nor its host is left.
    host_->dnsQuery(
        queryName(state->input.from_domain), DnsType::Txt,
        [this, alive = alive_, state](DnsResult result) {
          if (!*alive || state->answered) {
            return;
          }
          state->input.at_from = txtAnswerFrom(result);
          auto fallback = fallbackQueryName(state->input.from_domain, state->input.at_from, *list_);
          if (!fallback) {
            return evaluated(state);
          }
          host_->dnsQuery(*fallback, DnsType::Txt, [this, alive, state](DnsResult second) {
            if (!*alive || state->answered) {
              return;
            }
            state->input.at_organizational = txtAnswerFrom(second);
            evaluated(state);
          });
        });
  }

  void evaluated(const std::shared_ptr<Check>& state) {
    state->evaluations.push_back(evaluate(state->input, *list_));
    if (++state->next_domain < state->domains.size()) {
      return lookUp(state);
    }
    finish(state);
  }

  static SpfInput spfInput(Connection& connection, Transaction& txn) {
    SpfInput spf;
    const auto& mfrom = txn.results().get("spf");
    if (!txn.mailFrom().is_null) {
      spf.mail_from_domain = txn.mailFrom().host;
      if (mfrom.is_object() && mfrom.value("scope", "") == "mfrom") {
        spf.mail_from_result = authResultFrom(mfrom.value("result", "none"));
      }
    }
    const auto& helo = connection.results().get("spf");
    if (helo.is_object() && helo.value("scope", "") == "helo") {
      spf.helo_domain = helo.value("domain", "");
      spf.helo_result = authResultFrom(helo.value("result", "none"));
    }
    return spf;
  }

  static std::vector<DkimInput> dkimInputs(Transaction& txn) {
    std::vector<DkimInput> inputs;
    const auto& dkim = txn.results().get("dkim");
    if (!dkim.is_object() || !dkim.contains("signatures") || !dkim["signatures"].is_array()) {
      return inputs;
    }
    for (const auto& signature : dkim["signatures"]) {
      if (!signature.is_object()) {
        continue;
      }
      inputs.push_back({signature.value("domain", ""), signature.value("selector", ""),
                        authResultFrom(signature.value("result", "none"))});
    }
    return inputs;
  }

  void finish(const std::shared_ptr<Check>& state) {
    state->answered = true;
    if (state->timer != 0) {
      host_->clearTimeout(state->timer);
      timers_.erase(state->timer);
      state->timer = 0;
    }
    // The client may be gone: only a pending next proves the connection still exists.
    if (!state->next.pending()) {
      return;
    }
    Connection& connection = *state->connection;
    auto* txn = connection.transaction();
    if (txn == nullptr) {
      return state->next();
    }
    // Section 6.6.1: the strictest policy among the domains that fail; else the first
    // domain that did not pass; else the first.
    const Evaluation* chosen = &state->evaluations.front();
    for (const auto& candidate : state->evaluations) {
      if (candidate.result == upesi::dmarc::Result::Fail) {
        if (chosen->result != upesi::dmarc::Result::Fail ||
            strictness(candidate.disposition) > strictness(chosen->disposition)) {
          chosen = &candidate;
        }
      } else if (candidate.result != upesi::dmarc::Result::Pass &&
                 chosen->result == upesi::dmarc::Result::Pass) {
        chosen = &candidate;
      }
    }
    for (const auto& evaluation : state->evaluations) {
      recordEvaluation(connection, *txn, state->input, evaluation);
    }
    const Evaluation& evaluation = *chosen;
    const auto& name = host_->pluginName();
    const std::string result(resultName(evaluation.result));
    txn->results().add(name, {{"result", result},
                              {"domain", evaluation.from_domain},
                              {"policy", std::string(policyName(evaluation.applied_policy))},
                              {"disposition", std::string(policyName(evaluation.disposition))}});
    if (evaluation.result == upesi::dmarc::Result::Pass) {
      txn->results().add(name, {{"pass", evaluation.from_domain}});
    } else if (evaluation.result == upesi::dmarc::Result::Fail) {
      txn->results().add(name, {{"fail", evaluation.from_domain}});
    } else if (!evaluation.reason.empty()) {
      txn->results().add(name, {{"msg", evaluation.reason}});
    }
    act(state->next, *txn, evaluation);
  }

  // Each author domain's Authentication-Results entry, log line and report row.
  void recordEvaluation(Connection& connection, Transaction& txn, const EvaluationInput& input,
                        const Evaluation& evaluation) {
    txn.results().push(host_->pluginName(),
                       {{"auth_results", methodResultJson(evaluation.authResult())}});
    host_->log(
        LogLevel::Info,
        fmt::format("result={} domain={} policy={} disposition={}{}", resultName(evaluation.result),
                    evaluation.from_domain, policyName(evaluation.applied_policy),
                    policyName(evaluation.disposition),
                    evaluation.reason.empty() ? "" : " reason=\"" + evaluation.reason + "\""),
        &connection);
    if (evaluation.record && iniFlag(cfg_, "reporting", "enabled")) {
      record(evaluation.reportRow(input));
    }
  }

  void record(const ReportRow& row) {
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    std::filesystem::path dir = iniString(cfg_, "reporting", "directory", "dmarc");
    if (dir.is_relative()) {
      dir = host_->installDir() / dir;
    }
    auto file = dir / ("aggregate-" + utcDay(now) + ".jsonl");
    auto line =
        reportRowJson(row, now).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    auto error = std::make_shared<std::string>();
    host_->runInThreadPool([file, line, error] { *error = appendLine(file, line); },
                           [this, alive = alive_, error] {
                             if (*alive && !error->empty()) {
                               host_->log(LogLevel::Error,
                                          "writing the aggregate report row: " + *error);
                             }
                           });
  }

  void act(const Next& next, Transaction& txn, const Evaluation& evaluation) {
    if (evaluation.result != upesi::dmarc::Result::Fail || evaluation.disposition == Policy::None) {
      return next();
    }
    const bool reject_disposition = evaluation.disposition == Policy::Reject;
    const std::string action = reject_disposition
                                   ? iniString(cfg_, "reject", "action", "reject")
                                   : iniString(cfg_, "quarantine", "action", "quarantine");
    if (action == "reject") {
      return next(Code::Deny,
                  fmt::format("5.7.1 Message rejected: the DMARC policy of {} ({}) says {}",
                              evaluation.from_domain, evaluation.policy_domain,
                              policyName(evaluation.disposition)));
    }
    if (action == "quarantine") {
      auto header = iniString(cfg_, "quarantine", "header", "X-DMARC-Quarantine");
      if (!header.empty()) {
        txn.addHeader(header, fmt::format("{} p={}", evaluation.from_domain,
                                          policyName(evaluation.applied_policy)));
      }
      auto note = iniString(cfg_, "quarantine", "note", "dmarc");
      if (!note.empty()) {
        txn.notes()["quarantine"] = note;
      }
    }
    next();
  }

  Host* host_ = nullptr;
  nlohmann::json cfg_;
  unsigned lookup_timeout_ = DefaultLookupTimeout;
  std::string list_path_;
  std::shared_ptr<auth::PublicSuffixList> list_;
  std::set<std::uint64_t> timers_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace upesi::plugins::dmarc

std::unique_ptr<upesi::Plugin> upesi_builtin_dmarc() {
  return std::make_unique<upesi::plugins::dmarc::Dmarc>();
}
