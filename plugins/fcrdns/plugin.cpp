// fcrdns: forward-confirmed reverse DNS with Haraka's fcrdns.ini. On lookup_rdns it asks for the
// client's PTR names, then each name's A and AAAA records, records what it found under
// "fcrdns" for other plugins, answers the hook with the name (the connection's remote host),
// and rejects only where [reject] asks.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>
#include <upesi/text.hpp>

#include "common/config/ini_values.hpp"
#include "plugins/fcrdns/fcrdns_rules.hpp"
#include "plugins/support/answer_deadlines.hpp"
#include "plugins/support/host_names.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace upesi::plugins::fcrdns {

using config::iniFlag;
using config::iniInteger;
using config::iniString;

namespace {

const std::vector<std::string> Booleans = {"-reject.no_rdns", "-reject.no_fcrdns",
                                           "-reject.invalid_tld", "-reject.generic_rdns",
                                           "+skip.private_ip"};

constexpr long long DefaultTimeout = 29;     // seconds: Haraka's plugin timeout less one
constexpr long long DefaultMaxPtrNames = 10; // as RFC 7208 section 4.6.4 bounds PTR names
constexpr long long DefaultMaxAddresses = 32;

// Node's names for resolver errors, which Haraka's results and replies carry.
std::string errorCode(DnsStatus status) {
  switch (status) {
  case DnsStatus::NxDomain:
    return "ENOTFOUND";
  case DnsStatus::NoData:
    return "ENODATA";
  case DnsStatus::ServFail:
    return "ESERVFAIL";
  case DnsStatus::Timeout:
    return "ETIMEOUT";
  case DnsStatus::Ok:
  case DnsStatus::Error:
    break;
  }
  return "EBADRESP";
}

std::string firstTwo(const nlohmann::json& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < 2; ++i) {
    out += (i == 0 ? "" : ",") + names[i].get<std::string>();
  }
  return names.size() > 2 ? out + "..." : out;
}

// One client's lookups: the PTR names in order, and each name's addresses once both its A and
// AAAA answers are in.
struct Lookup {
  explicit Lookup(Next pending) : next(std::move(pending)) {}
  Next next;
  Connection* connection = nullptr;
  std::shared_ptr<PendingAnswer> answer;
  std::vector<std::string> names;
  std::vector<std::vector<std::string>> addresses;
  std::size_t outstanding = 0;
};

} // namespace

class Fcrdns final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    deadlines_.attach(host);
    load();
    host.onConfigChange("fcrdns.ini", [this] { load(); });
    registrar.registerHook(
        Hook::ConnectInit,
        [this](Next next, Connection& c, const HookParams&) { initialize(next, c); }, 0,
        "initialize_fcrdns");
    registrar.registerHook(
        Hook::LookupRdns, [this](Next next, Connection& c, const HookParams&) { lookup(next, c); },
        0, "do_dns_lookups");
    // Haraka adds its headers at data; here the header exists once the message is in.
    registrar.registerHook(
        Hook::DataPost,
        [this](Next next, Connection& c, const HookParams&) { addHeaders(next, c); }, 0,
        "add_message_headers");
  }

  void shutdown() override { deadlines_.shutdown(); }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"fcrdns.ini", "ini", Booleans}};
  }

private:
  long long positive(const std::string& key, long long fallback) {
    auto value = iniInteger(cfg_, "main", key);
    if (!iniString(cfg_, "main", key).empty() && (!value || *value <= 0)) {
      host_->log(LogLevel::Error,
                 fmt::format("fcrdns.ini [main] {}={} is not a positive number; using {}", key,
                             iniString(cfg_, "main", key), fallback));
    }
    return value && *value > 0 ? *value : fallback;
  }

  void load() {
    cfg_ = host_->config("fcrdns.ini", "ini", Booleans);
    timeout_s_ = positive("timeout", DefaultTimeout);
    max_ptr_names_ = static_cast<std::size_t>(positive("max_ptr_names", DefaultMaxPtrNames));
    max_addresses_ = static_cast<std::size_t>(positive("max_addresses", DefaultMaxAddresses));
    std::string error;
    suffixes_ = sharedSuffixList(
        iniString(cfg_, "main", "public_suffix_list", std::string(auth::DebianPublicSuffixList)),
        error);
    if (!error.empty()) {
      host_->log(LogLevel::Error, fmt::format("{}; every PTR name counts as an invalid TLD "
                                              "(install Debian's publicsuffix package)",
                                              error));
    }
  }

  bool whitelisted(Connection& connection) const {
    const auto& notes = connection.notes();
    return notes.contains("rdns_access") && notes["rdns_access"] == "white";
  }

  bool skipped(Connection& connection) const {
    return iniFlag(cfg_, "skip", "private_ip") && connection.remote().is_private;
  }

  void initialize(const Next& next, Connection& connection) {
    // Always there, so that readers find every key.
    connection.results().add(host_->pluginName(), {{"fcrdns", nlohmann::json::array()},
                                                   {"invalid_tlds", nlohmann::json::array()},
                                                   {"other_ips", nlohmann::json::array()},
                                                   {"ptr_names", nlohmann::json::array()},
                                                   {"ptr_multidomain", false},
                                                   {"has_rdns", false},
                                                   {"ptr_name_has_ips", false},
                                                   {"ptr_name_to_ip", nlohmann::json::object()},
                                                   {"generic_rdns", false}});
    next();
  }

  void lookup(const Next& next, Connection& connection) {
    const auto& name = host_->pluginName();
    if (skipped(connection)) {
      connection.results().add(name, {{"skip", "private_ip"}});
      return next();
    }
    const std::string ip = connection.remote().ip;
    auto state = std::make_shared<Lookup>(next);
    state->connection = &connection;
    state->answer =
        deadlines_.start(static_cast<std::uint64_t>(timeout_s_) * 1000, [this, state, ip] {
          if (!state->next.pending()) {
            return;
          }
          auto& conn = *state->connection;
          conn.results().add(host_->pluginName(), {{"err", "timeout"}});
          if (!iniFlag(cfg_, "reject", "no_rdns") || whitelisted(conn)) {
            return state->next();
          }
          state->next(Code::DenySoft, fmt::format("client [{}] rDNS lookup timeout", ip));
        });
    host_->dnsQuery(reverseName(ip), DnsType::Ptr, [this, state](DnsResult result) {
      if (state->answer->answered() || !state->next.pending()) {
        return;
      }
      if (result.status != DnsStatus::Ok || result.records.empty()) {
        return ptrFailed(*state, result.status);
      }
      for (const auto& record : result.records) {
        if (state->names.size() < max_ptr_names_) {
          state->names.push_back(record.value);
        }
      }
      resolveNames(state);
    });
  }

  // Haraka's handle_ptr_error: no PTR at all is permanent, anything else temporary.
  void ptrFailed(Lookup& state, DnsStatus status) {
    if (!state.answer->claim()) {
      return;
    }
    auto& conn = *state.connection;
    const auto& name = host_->pluginName();
    const std::string& ip = conn.remote().ip;
    const bool reject = iniFlag(cfg_, "reject", "no_rdns") && !whitelisted(conn);
    if (status == DnsStatus::NxDomain || status == DnsStatus::NoData || status == DnsStatus::Ok) {
      conn.results().add(name, {{"fail", "has_rdns"}});
      pushAuthResult(conn, "permerror");
      return reject ? state.next(Code::Deny, fmt::format("client [{}] rejected; no rDNS", ip))
                    : state.next();
    }
    const std::string code = errorCode(status);
    conn.results().add(name, {{"err", code}});
    pushAuthResult(conn, "temperror");
    if (!reject) {
      return state.next();
    }
    state.next(Code::DenySoft, fmt::format("client [{}] rDNS lookup error ({})", ip, code));
  }

  // Haraka's resolve_ptr_names: a name without a known TLD is not looked up; the others get
  // their A and AAAA records.
  void resolveNames(const std::shared_ptr<Lookup>& state) {
    auto& conn = *state->connection;
    const auto& plugin = host_->pluginName();
    nlohmann::json ptr_names = nlohmann::json::array();
    for (const auto& ptr : state->names) {
      ptr_names.push_back(ptr);
    }
    conn.results().add(plugin, {{"ptr_names", ptr_names}, {"has_rdns", true}});
    std::vector<std::string> valid;
    for (const auto& ptr : state->names) {
      if (!knownOrganizationalDomain(*suffixes_, text::toLower(ptr)).empty()) {
        valid.push_back(text::toLower(ptr));
        continue;
      }
      conn.results().add(plugin, {{"fail", fmt::format("valid_tld({})", ptr)}});
      conn.results().push(plugin, {{"invalid_tlds", ptr}});
      if (iniFlag(cfg_, "reject", "invalid_tld") && !whitelisted(conn)) {
        if (state->answer->claim()) {
          state->next(Code::Deny, fmt::format("client [{}] rejected; invalid TLD in rDNS ({})",
                                              conn.remote().ip, ptr));
        }
        return;
      }
    }
    state->names = valid;
    state->addresses.assign(valid.size(), {});
    state->outstanding = valid.size() * 2;
    if (valid.empty()) {
      return confirm(state);
    }
    for (std::size_t i = 0; i < valid.size(); ++i) {
      for (auto type : {DnsType::Aaaa, DnsType::A}) {
        host_->dnsQuery(valid[i], type, [this, state, i](DnsResult result) {
          if (state->answer->answered() || !state->next.pending()) {
            return;
          }
          auto& found = state->addresses[i];
          for (const auto& record : result.records) {
            if (found.size() < max_addresses_ &&
                std::find(found.begin(), found.end(), record.value) == found.end()) {
              found.push_back(record.value);
            }
          }
          if (--state->outstanding == 0) {
            confirm(state);
          }
        });
      }
    }
  }

  // Haraka's check_fcrdns: compares each name's addresses with the client's.
  void confirm(const std::shared_ptr<Lookup>& state) {
    auto& conn = *state->connection;
    const auto& plugin = host_->pluginName();
    const std::string& ip = conn.remote().ip;
    nlohmann::json name_to_ip = nlohmann::json::object();
    std::string last_domain;
    std::string confirmed;
    for (std::size_t i = 0; i < state->names.size(); ++i) {
      const auto& name = state->names[i];
      const auto& addresses = state->addresses[i];
      name_to_ip[name] = addresses;
      if (addresses.empty()) {
        conn.results().add(plugin, {{"fail", fmt::format("ptr_valid({})", name)}});
      }
      const std::string domain = knownOrganizationalDomain(*suffixes_, name);
      if (!last_domain.empty() && last_domain != domain) {
        conn.results().add(plugin, {{"ptr_multidomain", true}});
      } else {
        last_domain = domain;
      }
      switch (comparePtrAddresses(ip, addresses)) {
      case PtrMatch::Exact:
        conn.results().add(plugin, {{"pass", "fcrdns"}});
        conn.results().push(plugin, {{"fcrdns", name}});
        confirmed = confirmed.empty() ? name : confirmed;
        break;
      case PtrMatch::Network:
        conn.results().add(plugin, {{"pass", "fcrdns(net)"}});
        conn.results().push(plugin, {{"fcrdns", name}});
        confirmed = confirmed.empty() ? name : confirmed;
        break;
      case PtrMatch::None:
        for (const auto& address : addresses) {
          conn.results().push(plugin, {{"other_ips", address}});
        }
        break;
      }
      if (!addresses.empty()) {
        conn.results().add(plugin, {{"ptr_name_has_ips", true}});
      }
      const auto generic = genericRdns(ip, name, *suffixes_);
      conn.results().add(plugin, {{generic.ip_in_name ? "fail" : "pass", "is_generic_rdns"}});
      if (generic.generic) {
        conn.results().add(plugin, {{"generic_rdns", true}});
        if (iniFlag(cfg_, "reject", "generic_rdns") && !whitelisted(conn)) {
          conn.results().add(plugin, {{"ptr_name_to_ip", name_to_ip}});
          if (state->answer->claim()) {
            state->next(Code::Deny, fmt::format("client {} [{}] rejected; generic rDNS, please "
                                                "use your ISPs SMTP relay",
                                                name, ip));
          }
          return;
        }
      }
    }
    conn.results().add(plugin, {{"ptr_name_to_ip", name_to_ip}});
    if (!state->answer->claim()) {
      return;
    }
    logSummary(conn);
    pushAuthResult(conn, confirmed.empty() ? "fail" : "pass");
    if (confirmed.empty() && iniFlag(cfg_, "reject", "no_fcrdns")) {
      return state->next(Code::Deny, "Sorry, no FCrDNS match found");
    }
    // The name becomes the connection's remote host, as Haraka's core names it from the PTR.
    const std::string host =
        confirmed.empty() ? state->names.empty() ? "" : state->names.front() : confirmed;
    if (host.empty()) {
      return state->next();
    }
    state->next(Code::Ok, host);
  }

  // RFC 8601 section 3 (iprev), in the Authentication-Results header the core writes.
  void pushAuthResult(Connection& connection, const std::string& result) {
    nlohmann::json entry = {{"method", "iprev"},
                            {"result", result},
                            {"properties", {{"policy.iprev", connection.remote().ip}}}};
    connection.results().push(host_->pluginName(), {{"auth_results", entry}});
    // Haraka's connection.auth_results() keeps the same as text in this note.
    auto& noted = connection.notes()["authentication_results"];
    if (!noted.is_array()) {
      noted = nlohmann::json::array();
    }
    noted.push_back("iprev=" + result);
  }

  void logSummary(Connection& connection) {
    const auto& r = connection.results().get(host_->pluginName());
    auto list = [&r](const char* key) {
      auto found = r.find(key);
      return found != r.end() && found->is_array() ? *found : nlohmann::json::array();
    };
    const auto names = list("ptr_names");
    const auto confirmed = list("fcrdns");
    host_->log(LogLevel::Info,
               fmt::format("ip={}  rdns=\"{}\" rdns_len={} fcrdns=\"{}\" fcrdns_len={} "
                           "other_ips_len={} invalid_tlds={} generic_rdns={}",
                           connection.remote().ip, firstTwo(names), names.size(),
                           firstTwo(confirmed), confirmed.size(), list("other_ips").size(),
                           list("invalid_tlds").size(),
                           r.value("generic_rdns", false) ? "true" : "false"),
               &connection);
  }

  void addHeaders(const Next& next, Connection& connection) {
    auto* txn = connection.transaction();
    if (txn == nullptr) {
      return next();
    }
    txn->removeHeader("X-Haraka-FCrDNS");
    txn->removeHeader("X-Haraka-rDNS-OtherIPs");
    const auto& r = connection.results().get(host_->pluginName());
    if (!r.is_object()) {
      connection.results().add(host_->pluginName(), {{"err", "no fcrdns results!?"}});
      return next();
    }
    auto joined = [](const nlohmann::json& list) {
      std::string out;
      for (const auto& item : list) {
        out += (out.empty() ? "" : " ") + item.get<std::string>();
      }
      return out;
    };
    if (r.contains("fcrdns") && r["fcrdns"].is_array() && !r["fcrdns"].empty()) {
      txn->addHeader("X-Haraka-FCrDNS", joined(r["fcrdns"]));
    }
    if (r.contains("other_ips") && r["other_ips"].is_array() && !r["other_ips"].empty()) {
      txn->addHeader("X-Haraka-rDNS-OtherIPs", joined(r["other_ips"]));
    }
    next();
  }

  Host* host_ = nullptr;
  nlohmann::json cfg_;
  long long timeout_s_ = DefaultTimeout;
  std::size_t max_ptr_names_ = DefaultMaxPtrNames;
  std::size_t max_addresses_ = DefaultMaxAddresses;
  std::shared_ptr<const auth::PublicSuffixList> suffixes_;
  AnswerDeadlines deadlines_;
};

} // namespace upesi::plugins::fcrdns

std::unique_ptr<upesi::Plugin> upesi_builtin_fcrdns() {
  return std::make_unique<upesi::plugins::fcrdns::Fcrdns>();
}
