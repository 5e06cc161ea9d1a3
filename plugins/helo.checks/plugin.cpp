// helo.checks: Haraka's checks of the HELO/EHLO name with its helo.checks.ini, results under
// "helo.checks" and its replies. The name's checks run on the first greeting; later ones are
// compared with it (host_mismatch, proto_mismatch), and a refusal is given again to every later
// greeting of the connection.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>
#include <upesi/text.hpp>

#include "common/config/ini_values.hpp"
#include "plugins/fcrdns/fcrdns_rules.hpp"
#include "plugins/helo.checks/helo_rules.hpp"
#include "plugins/support/answer_deadlines.hpp"
#include "plugins/support/host_names.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace upesi::plugins::helo_checks {

using config::iniFlag;
using config::iniInteger;
using config::iniString;
using config::iniValue;

namespace {

// Checked on the first greeting, in Haraka's order; each has [check] and [reject] flags.
const std::vector<std::string> NameChecks = {
    "match_re", "bare_ip", "dynamic", "big_company", "valid_hostname", "rdns_match", "forward_dns"};

std::vector<std::string> booleans() {
  std::vector<std::string> flags = {
      "+skip.private_ip",         "+skip.whitelist",       "+skip.relaying",
      "-reject.literal_mismatch", "+check.proto_mismatch", "-reject.proto_mismatch",
      "+check.host_mismatch",     "-reject.host_mismatch", "-reject.mismatch"};
  for (const auto& check : NameChecks) {
    flags.push_back("+check." + check);
    flags.push_back("-reject." + check);
  }
  return flags;
}

constexpr long long DefaultDnsTimeout = 30; // seconds, as Haraka's README gives it
constexpr long long DefaultMaxAddresses = 32;
constexpr std::size_t MaxPtrNames = 10;
constexpr const char* StateNote = "helo.checks"; // the connection's first greeting and refusal

struct Greeting {
  explicit Greeting(Next pending) : next(std::move(pending)) {}
  Next next;
  Connection* connection = nullptr;
  std::string helo;
  bool ehlo = false;
  std::size_t step = 0;
  std::vector<std::string> rdns_names; // PTR names, from fcrdns or our own lookup
};

using GreetingPtr = std::shared_ptr<Greeting>;

std::string codeWord(Code code) {
  return code == Code::DenySoft ? "denysoft" : "deny";
}

} // namespace

class HeloChecks final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    deadlines_.attach(host);
    load();
    host.onConfigChange("helo.checks.ini", [this] { load(); });
    host.onConfigChange("helo.checks.regexps", [this] { loadPatterns(); });
    registrar.registerHook(
        Hook::Helo,
        [this](Next next, Connection& c, const HookParams& p) { greet(next, c, p, false); }, 0,
        "helo_checks");
    registrar.registerHook(
        Hook::Ehlo,
        [this](Next next, Connection& c, const HookParams& p) { greet(next, c, p, true); }, 0,
        "helo_checks");
  }

  void shutdown() override { deadlines_.shutdown(); }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"helo.checks.ini", "ini", booleans()}, {"helo.checks.regexps", "data", {}}};
  }

private:
  // ------------------------------------------------------------------------------ config

  void load() {
    cfg_ = host_->config("helo.checks.ini", "ini", booleans());
    // Haraka's older top-level names still count.
    for (auto [old_key, check] :
         {std::pair{"check_no_dot", "valid_hostname"}, std::pair{"check_dynamic", "dynamic"},
          std::pair{"check_raw_ip", "bare_ip"}}) {
      const auto& value = iniValue(cfg_, "main", old_key);
      if (!value.is_null()) {
        cfg_["check"][check] = value.is_boolean()
                                   ? value.get<bool>()
                                   : text::isTruthy(iniString(cfg_, "main", old_key));
      }
    }
    if (iniFlag(cfg_, "reject", "mismatch")) {
      host_->log(LogLevel::Error, "helo.checks.ini: [reject] mismatch is now host_mismatch");
      cfg_["reject"]["host_mismatch"] = true;
    }
    if (!iniValue(cfg_, "check", "mismatch").is_null() &&
        iniValue(cfg_, "check", "host_mismatch").is_null()) {
      cfg_["check"]["host_mismatch"] = text::isTruthy(iniString(cfg_, "check", "mismatch"));
    }
    const auto mode = iniInteger(cfg_, "check", "literal_mismatch").value_or(2);
    literal_mode_ = mode >= 1 && mode <= 3 ? static_cast<int>(mode) : 2;
    dns_timeout_s_ = number("dns_timeout", DefaultDnsTimeout);
    max_addresses_ = static_cast<std::size_t>(number("max_addresses", DefaultMaxAddresses));
    skip_tlds_.clear();
    const auto& tlds = iniValue(cfg_, "skip", "tlds");
    for (const auto& tld : tlds.is_array() ? tlds : nlohmann::json::array({tlds})) {
      if (tld.is_string()) {
        skip_tlds_.push_back(text::toLower(tld.get<std::string>()));
      }
    }
    std::string error;
    suffixes_ = sharedSuffixList(
        iniString(cfg_, "main", "public_suffix_list", std::string(auth::DebianPublicSuffixList)),
        error);
    if (!error.empty()) {
      host_->log(LogLevel::Error, fmt::format("{}; no HELO name counts as a valid host name "
                                              "(install Debian's publicsuffix package)",
                                              error));
    }
    loadPatterns();
  }

  long long number(const std::string& key, long long fallback) {
    auto value = iniInteger(cfg_, "main", key);
    if (!iniString(cfg_, "main", key).empty() && (!value || *value <= 0)) {
      host_->log(LogLevel::Error,
                 fmt::format("helo.checks.ini {}={} is not a positive number; using {}", key,
                             iniString(cfg_, "main", key), fallback));
    }
    return value && *value > 0 ? *value : fallback;
  }

  void loadPatterns() {
    const auto lines = host_->config("helo.checks.regexps", "data");
    std::vector<std::string> text;
    for (const auto& line : lines) {
      if (line.is_string()) {
        text.push_back(line.get<std::string>());
      }
    }
    patterns_ = std::make_shared<const HeloPatterns>(
        HeloPatterns::compile(text, "config/helo.checks.regexps"));
    for (const auto& error : patterns_->errors()) {
      host_->log(LogLevel::Error, error);
    }
  }

  bool enabled(const std::string& check) const { return iniFlag(cfg_, "check", check); }
  bool rejects(const std::string& check) const { return iniFlag(cfg_, "reject", check); }

  // ------------------------------------------------------------------------------ greeting

  void greet(const Next& next, Connection& connection, const HookParams& params, bool ehlo) {
    auto g = std::make_shared<Greeting>(next);
    g->connection = &connection;
    g->helo = std::string(params.host);
    g->ehlo = ehlo;
    auto& state = connection.notes()[StateNote];
    if (!state.is_object()) {
      state = nlohmann::json::object();
    }
    if (state.contains("refused")) {
      // A verdict sticks: the client cannot greet its way past it (Haraka #2913, #3040).
      const auto& refused = state["refused"];
      const Code code = refused.value("code", "deny") == "denysoft" ? Code::DenySoft : Code::Deny;
      return next(code, refused.value("text", std::string("HELO denied")));
    }
    if (state.contains("first")) {
      return later(g, state);
    }
    state["first"] = g->helo;
    state["verb"] = ehlo ? "EHLO" : "HELO";
    const auto& r = connection.results().get(host_->pluginName());
    if (!r.is_object() || !r.contains("helo_host")) {
      connection.results().add(host_->pluginName(), {{"helo_host", g->helo}});
    }
    advance(g);
  }

  // A greeting after the first: only what may have changed is checked.
  void later(const GreetingPtr& g, nlohmann::json& state) {
    auto& conn = *g->connection;
    const auto& plugin = host_->pluginName();
    const std::string previous_verb = state.value("verb", "");
    state["verb"] = g->ehlo ? "EHLO" : "HELO";
    const std::string proto = g->ehlo ? "esmtp" : "smtp";
    if (enabled("proto_mismatch") && !skipped(conn, "proto_mismatch", false) &&
        previous_verb != (g->ehlo ? "EHLO" : "HELO")) {
      const std::string failure = fmt::format("proto_mismatch({})", proto);
      addOnce(conn, "fail", failure);
      if (rejects("proto_mismatch")) {
        return refuse(g, Code::Deny,
                      fmt::format("{} protocol mismatch", g->ehlo ? "EHLO" : "HELO"));
      }
    }
    const std::string first = state.value("first", "");
    if (enabled("host_mismatch") && !skipped(conn, "host_mismatch", false)) {
      if (first == g->helo) {
        addOnce(conn, "pass", "host_mismatch");
      } else {
        const std::string failure = fmt::format("host_mismatch({} / {})", first, g->helo);
        addOnce(conn, "fail", failure);
        if (rejects("host_mismatch")) {
          return refuse(g, Code::Deny, "HELO host " + failure);
        }
      }
    }
    host_->log(LogLevel::Info, conn.results().collate(plugin), &conn);
    g->next();
  }

  // Results a repeated greeting would add again are added once (the lists stay bounded).
  void addOnce(Connection& connection, const std::string& key, const std::string& value) {
    if (!connection.results().has(host_->pluginName(), key, value)) {
      connection.results().add(host_->pluginName(), {{key, value}});
    }
  }

  // Haraka's should_skip, with its reasons recorded per check.
  bool skipped(Connection& connection, const std::string& check, bool record = true) {
    const auto& plugin = host_->pluginName();
    if (record) {
      connection.results().push(plugin, {{"_skip_hooks", check}});
    }
    std::string reason;
    if (iniFlag(cfg_, "skip", "relaying") && connection.relaying()) {
      reason = "relay";
    } else if (iniFlag(cfg_, "skip", "private_ip") && connection.remote().is_private) {
      reason = "private";
    } else if (iniFlag(cfg_, "skip", "whitelist") && connection.notes().contains("rdns_access") &&
               connection.notes()["rdns_access"] == "white") {
      reason = "whitelist";
    }
    if (reason.empty()) {
      return false;
    }
    if (record) {
      connection.results().add(plugin, {{"skip", fmt::format("{}({})", check, reason)}});
    }
    return true;
  }

  using Step = void (HeloChecks::*)(const GreetingPtr&);

  void advance(const GreetingPtr& g) {
    static const std::vector<std::pair<std::string, Step>> Steps = {
        {"match_re", &HeloChecks::matchRe},
        {"bare_ip", &HeloChecks::bareIp},
        {"dynamic", &HeloChecks::dynamic},
        {"big_company", &HeloChecks::bigCompany},
        {"valid_hostname", &HeloChecks::validHostname},
        {"rdns_match", &HeloChecks::rdnsMatch},
        {"forward_dns", &HeloChecks::forwardDns},
        {"host_mismatch", &HeloChecks::hostMismatch},
        {"literal_mismatch", &HeloChecks::literalMismatch},
    };
    if (!g->next.pending()) {
      return;
    }
    while (g->step < Steps.size()) {
      const auto& [check, step] = Steps[g->step];
      ++g->step;
      // literal_mismatch has no [check] flag: its [check] value is its mode.
      if (check != "literal_mismatch" && !enabled(check)) {
        continue;
      }
      if (skipped(*g->connection, check)) {
        continue;
      }
      return (this->*step)(g);
    }
    host_->log(LogLevel::Info, g->connection->results().collate(host_->pluginName()),
               g->connection);
    g->next();
  }

  void pass(const GreetingPtr& g, const std::string& what) { result(g, "pass", what); }
  void fail(const GreetingPtr& g, const std::string& what) { result(g, "fail", what); }
  void result(const GreetingPtr& g, const std::string& key, const nlohmann::json& what) {
    g->connection->results().add(host_->pluginName(), {{key, what}});
  }

  // A failed check: refused if its [reject] flag says so, else on to the next check.
  void failed(const GreetingPtr& g, const std::string& check, Code code, const std::string& text) {
    if (rejects(check)) {
      return refuse(g, code, text);
    }
    advance(g);
  }

  void refuse(const GreetingPtr& g, Code code, const std::string& text) {
    auto& conn = *g->connection;
    conn.notes()[StateNote]["refused"] = {{"code", codeWord(code)}, {"text", text}};
    host_->log(LogLevel::Info, conn.results().collate(host_->pluginName()), &conn);
    g->next(code, text);
  }

  // ------------------------------------------------------------------------------ the checks

  void matchRe(const GreetingPtr& g) {
    auto patterns = patterns_;
    if (patterns->size() == 0) {
      pass(g, "match_re");
      return advance(g);
    }
    auto matched = std::make_shared<bool>(false);
    auto error = std::make_shared<std::string>();
    // Operators' expressions may backtrack: they run off the loop.
    host_->runInThreadPool([patterns, matched, error,
                            helo = g->helo] { *matched = patterns->matches(helo, error.get()); },
                           [this, g, matched, error, alive = deadlines_.alive()] {
                             if (!*alive || !g->next.pending()) {
                               return;
                             }
                             if (!error->empty()) {
                               result(g, "err", fmt::format("match_re({})", *error));
                             }
                             if (!*matched) {
                               pass(g, "match_re");
                               return advance(g);
                             }
                             fail(g, "match_re");
                             failed(g, "match_re", Code::Deny, "That HELO not allowed here");
                           });
  }

  void bareIp(const GreetingPtr& g) {
    if (isBareIp(g->helo)) {
      fail(g, "bare_ip(invalid literal)");
      return failed(g, "bare_ip", Code::Deny, "Invalid address format in HELO");
    }
    pass(g, "bare_ip");
    advance(g);
  }

  void dynamic(const GreetingPtr& g) {
    if (g->helo.find('.') == std::string::npos) {
      result(g, "skip", "dynamic(no dots)");
      return advance(g);
    }
    if (looksLikeAddress(g->helo)) {
      result(g, "skip", "dynamic(literal)");
      return advance(g);
    }
    if (ipInHostName(g->connection->remote().ip, g->helo, *suffixes_)) {
      fail(g, "dynamic");
      return failed(g, "dynamic", Code::Deny, "HELO is dynamic");
    }
    pass(g, "dynamic");
    advance(g);
  }

  void bigCompany(const GreetingPtr& g) {
    if (literalAddress(g->helo)) {
      result(g, "skip", "big_co(literal)");
      return advance(g);
    }
    const auto& bigco = cfg_.contains("bigco") ? cfg_["bigco"] : nlohmann::json();
    if (!bigco.is_object()) {
      result(g, "err", "big_co(config missing)");
      return advance(g);
    }
    const auto allowed = iniString(cfg_, "bigco", g->helo);
    if (allowed.empty()) {
      pass(g, "big_co(not)");
      return advance(g);
    }
    const std::string& rdns = g->connection->remote().host;
    if (rdns.empty() || rdns == "Unknown" || rdns == "DNSERROR") {
      fail(g, "big_co(rDNS)");
      return failed(g, "big_company", Code::Deny, "Big company w/o rDNS? Unlikely.");
    }
    if (bigCompanyAllows(rdns, allowed)) {
      pass(g, "big_co");
      return advance(g);
    }
    fail(g, "big_co");
    failed(g, "big_company", Code::Deny, "You are not who you say you are");
  }

  void validHostname(const GreetingPtr& g) {
    if (literalAddress(g->helo)) {
      result(g, "skip", "valid_hostname(literal)");
      return advance(g);
    }
    const auto check = checkHostname(g->helo, *suffixes_, skip_tlds_);
    switch (check.verdict) {
    case HostnameVerdict::Pass:
      pass(g, "valid_hostname");
      return advance(g);
    case HostnameVerdict::SkippedTld:
      result(g, "skip", fmt::format("valid_hostname({})", check.tld));
      return advance(g);
    case HostnameVerdict::NoDot:
      fail(g, "valid_hostname(no_dot)");
      return failed(g, "valid_hostname", Code::Deny,
                    "HELO host must be a FQDN or address literal (RFC 5321 2.3.5)");
    case HostnameVerdict::Invalid:
      fail(g, "valid_hostname");
      return failed(g, "valid_hostname", Code::Deny, "HELO host name invalid");
    }
  }

  // fcrdns's results when it looked this client up (found its PTR names, or found it has
  // none), else nothing: skipped, timed out or not loaded.
  const nlohmann::json* fcrdnsResults(Connection& connection) const {
    const auto& r = connection.results().get("fcrdns");
    if (!r.is_object() ||
        (!r.value("has_rdns", false) && !connection.results().has("fcrdns", "fail", "has_rdns"))) {
      return nullptr;
    }
    return &r;
  }

  // An array of fcrdns's results (names, or a name's addresses), or an empty one.
  static nlohmann::json listIn(const nlohmann::json& object, const std::string& key) {
    auto found = object.find(key);
    return found != object.end() && found->is_array() ? *found : nlohmann::json::array();
  }

  // The client's PTR names: fcrdns's when it found them, else a lookup of our own.
  void withRdnsNames(const GreetingPtr& g, std::function<void()> then) {
    auto& conn = *g->connection;
    if (const auto* fcrdns = fcrdnsResults(conn)) {
      for (const auto& name : listIn(*fcrdns, "ptr_names")) {
        if (name.is_string()) {
          g->rdns_names.push_back(name.get<std::string>());
        }
      }
      return then();
    }
    const std::string reverse = fcrdns::reverseName(conn.remote().ip);
    auto answer = deadlines_.start(static_cast<std::uint64_t>(dns_timeout_s_) * 1000, [g, then] {
      if (g->next.pending()) {
        then(); // no names: rdns_match fails
      }
    });
    host_->dnsQuery(reverse, DnsType::Ptr, [g, answer, then](DnsResult found) {
      if (!answer->claim() || !g->next.pending()) {
        return;
      }
      for (const auto& record : found.records) {
        if (g->rdns_names.size() < MaxPtrNames) {
          g->rdns_names.push_back(record.value);
        }
      }
      then();
    });
  }

  void rdnsMatch(const GreetingPtr& g) {
    if (g->helo.empty()) {
      fail(g, "rdns_match(empty)");
      return advance(g);
    }
    if (literalAddress(g->helo)) {
      fail(g, "rdns_match(literal)");
      return advance(g);
    }
    withRdnsNames(g, [this, g] {
      const std::string helo = text::toLower(g->helo);
      const std::string helo_od = knownOrganizationalDomain(*suffixes_, helo);
      auto names = g->rdns_names;
      if (names.empty() && !g->connection->remote().host.empty()) {
        names.push_back(g->connection->remote().host);
      }
      for (const auto& name : names) {
        if (text::toLower(name) == helo) {
          pass(g, "rdns_match");
          return advance(g);
        }
      }
      for (const auto& name : names) {
        const std::string rdns_od = knownOrganizationalDomain(*suffixes_, text::toLower(name));
        if (!rdns_od.empty() && rdns_od == helo_od) {
          pass(g, "rdns_match(org_dom)");
          return advance(g);
        }
      }
      fail(g, "rdns_match");
      failed(g, "rdns_match", Code::Deny, "HELO host does not match rDNS");
    });
  }

  void forwardDns(const GreetingPtr& g) {
    auto& conn = *g->connection;
    if (!enabled("valid_hostname")) {
      result(g, "err", "forward_dns(valid_hostname disabled)");
      return advance(g);
    }
    if (literalAddress(g->helo)) {
      result(g, "skip", "forward_dns(literal)");
      return advance(g);
    }
    if (!conn.results().has(host_->pluginName(), "pass", "valid_hostname")) {
      fail(g, "forward_dns(invalid_hostname)");
      return failed(g, "forward_dns", Code::Deny,
                    "Invalid HELO host cannot achieve forward DNS match");
    }
    const std::string name = text::toLower(g->helo);
    // fcrdns looked the client's PTR names up: a HELO name among them needs no second lookup.
    if (const auto* fcrdns = fcrdnsResults(conn)) {
      auto known = fcrdns->find("ptr_name_to_ip");
      const auto addresses =
          known != fcrdns->end() && known->is_object() ? listIn(*known, name) : nlohmann::json();
      if (!addresses.empty()) {
        std::vector<std::string> ips;
        for (const auto& ip : addresses) {
          if (ip.is_string()) {
            ips.push_back(ip.get<std::string>());
          }
        }
        return compareForward(g, ips);
      }
    }
    struct Pending {
      std::vector<std::string> ips;
      std::vector<DnsStatus> errors;
      int outstanding = 2;
    };
    auto pending = std::make_shared<Pending>();
    auto answer = deadlines_.start(static_cast<std::uint64_t>(dns_timeout_s_) * 1000, [this, g] {
      if (g->next.pending()) {
        lookupFailed(g, DnsStatus::Timeout);
      }
    });
    for (auto type : {DnsType::Aaaa, DnsType::A}) {
      host_->dnsQuery(name + ".", type, [this, g, pending, answer](DnsResult found) {
        if (answer->answered() || !g->next.pending()) {
          return;
        }
        if (found.status == DnsStatus::Ok) {
          for (const auto& record : found.records) {
            if (pending->ips.size() < max_addresses_ &&
                std::find(pending->ips.begin(), pending->ips.end(), record.value) ==
                    pending->ips.end()) {
              pending->ips.push_back(record.value);
            }
          }
        } else {
          pending->errors.push_back(found.status);
        }
        if (--pending->outstanding > 0 || !answer->claim()) {
          return;
        }
        // No such host is no forward DNS; another error counts only when nothing was found.
        for (auto status : pending->errors) {
          if (pending->ips.empty() && status != DnsStatus::NxDomain &&
              status != DnsStatus::NoData && status != DnsStatus::ServFail) {
            return lookupFailed(g, status);
          }
        }
        compareForward(g, pending->ips);
      });
    }
  }

  void lookupFailed(const GreetingPtr& g, DnsStatus status) {
    const std::string code = status == DnsStatus::Timeout ? "ETIMEOUT" : "EBADRESP";
    fail(g, fmt::format("forward_dns({})", code));
    if (status == DnsStatus::Timeout && rejects("forward_dns")) {
      return refuse(g, Code::DenySoft, "DNS timeout resolving your HELO hostname");
    }
    result(g, "err", fmt::format("forward_dns({})", code));
    advance(g);
  }

  void compareForward(const GreetingPtr& g, const std::vector<std::string>& ips) {
    auto& conn = *g->connection;
    if (ips.empty()) {
      fail(g, "forward_dns(no ips)");
      return advance(g);
    }
    result(g, "ips", ips);
    if (std::find(ips.begin(), ips.end(), conn.remote().ip) != ips.end()) {
      pass(g, "forward_dns");
      return advance(g);
    }
    // Big senders greet with a name of their domain that is not this host: when rDNS matched,
    // the same organizational domain is close enough (as Haraka).
    const auto& r = conn.results().get(host_->pluginName());
    const bool rdns_passed = conn.results().has(host_->pluginName(), "pass", "rdns_match") ||
                             conn.results().has(host_->pluginName(), "pass", "rdns_match(org_dom)");
    if (r.is_object() && rdns_passed) {
      const std::string helo_od = knownOrganizationalDomain(*suffixes_, text::toLower(g->helo));
      const std::string rdns_host =
          g->rdns_names.empty() ? conn.remote().host : g->rdns_names.front();
      const std::string rdns_od = knownOrganizationalDomain(*suffixes_, text::toLower(rdns_host));
      if (!helo_od.empty() && helo_od == rdns_od) {
        pass(g, "forward_dns(domain)");
        return advance(g);
      }
      result(g, "msg", fmt::format("od miss: {}, {}", helo_od, rdns_od));
    }
    fail(g, "forward_dns(no IP match)");
    failed(g, "forward_dns", Code::Deny, "HELO host has no forward DNS match");
  }

  void hostMismatch(const GreetingPtr& g) {
    // The first greeting: Haraka compares it with itself.
    pass(g, "host_mismatch");
    advance(g);
  }

  void literalMismatch(const GreetingPtr& g) {
    switch (checkLiteral(g->helo, g->connection->remote().ip, literal_mode_)) {
    case LiteralVerdict::NotLiteral:
    case LiteralVerdict::Pass:
      pass(g, "literal_mismatch");
      return advance(g);
    case LiteralVerdict::PassPrivate:
      pass(g, "literal_mismatch(private)");
      return advance(g);
    case LiteralVerdict::FailNetwork:
      fail(g, "literal_mismatch");
      return failed(g, "literal_mismatch", Code::Deny,
                    "HELO IP literal not in the same /24 as your IP address");
    case LiteralVerdict::FailExact:
      fail(g, "literal_mismatch");
      return failed(g, "literal_mismatch", Code::Deny,
                    "HELO IP literal does not match your IP address");
    }
  }

  Host* host_ = nullptr;
  nlohmann::json cfg_;
  int literal_mode_ = 2;
  long long dns_timeout_s_ = DefaultDnsTimeout;
  std::size_t max_addresses_ = DefaultMaxAddresses;
  std::vector<std::string> skip_tlds_;
  std::shared_ptr<const auth::PublicSuffixList> suffixes_;
  std::shared_ptr<const HeloPatterns> patterns_;
  AnswerDeadlines deadlines_;
};

} // namespace upesi::plugins::helo_checks

std::unique_ptr<upesi::Plugin> upesi_builtin_helo_checks() {
  return std::make_unique<upesi::plugins::helo_checks::HeloChecks>();
}
