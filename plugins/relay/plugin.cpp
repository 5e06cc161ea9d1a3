// relay: decides which clients may relay (connection.relaying): by IP (relay_acl_allow), by
// destination domain (relay_dest_domains.ini), or everyone ([relay] all, for spamtraps only).
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>
#include <upesi/text.hpp>

#include "common/util/cidr.hpp"

#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

namespace upesi::plugins::relay {

using util::Cidr;
using util::IpAddress;
namespace {

const std::vector<std::string> RelayIniBooleans = {"+relay.acl", "-relay.force_routing",
                                                   "-relay.all", "-relay.dest_domains"};

bool flag(const nlohmann::json& cfg, const char* key) {
  if (!cfg.is_object() || !cfg.contains("relay") || !cfg["relay"].is_object()) {
    return false;
  }
  const auto& section = cfg["relay"];
  return section.contains(key) && section[key].is_boolean() && section[key].get<bool>();
}

} // namespace

class Relay final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    loadRelayIni();
    host.onConfigChange("relay.ini", [this] { loadRelayIni(); });

    // As in Haraka, the hooks follow the settings read at start; a change of which features
    // are on needs a reload (SIGUSR2), their data (lists, domains) is re-read live.
    if (flag(cfg_, "acl")) {
      loadAcl();
      host.onConfigChange("relay_acl_allow", [this] { loadAcl(); });
      registrar.registerHook(
          Hook::ConnectInit,
          [this](Next next, Connection& c, const HookParams&) { checkAcl(next, c); }, 0, "acl");
      registrar.registerHook(
          Hook::Connect,
          [](Next next, Connection& c, const HookParams&) {
            next(c.relaying() ? Code::Ok : Code::Cont);
          },
          0, "pass_relaying");
    }
    if (flag(cfg_, "force_routing")) {
      host.log(LogLevel::Warn, "relay.ini [relay] force_routing is not implemented; ignored");
    }
    if (flag(cfg_, "dest_domains")) {
      loadDestDomains();
      host.onConfigChange("relay_dest_domains.ini", [this] { loadDestDomains(); });
      registrar.registerHook(
          Hook::Rcpt,
          [this](Next next, Connection& c, const HookParams& p) { destDomains(next, c, p); }, 0,
          "dest_domains");
    }
    if (flag(cfg_, "all")) {
      host.log(LogLevel::Warn,
               "relay.ini [relay] all=true: EVERY client may relay to ANY recipient. This is an "
               "OPEN RELAY; use it only for tests and spamtraps");
      registrar.registerHook(
          Hook::Rcpt,
          [this](Next next, Connection& c, const HookParams& p) {
            if (!flag(cfg_, "all")) {
              return next();
            }
            host_->log(LogLevel::Info,
                       fmt::format("confirming recipient {}",
                                   p.address != nullptr ? p.address->format() : "<?>"),
                       &c);
            c.setRelaying(true);
            next(Code::Ok);
          },
          0, "all");
    }
  }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"relay.ini", "ini", RelayIniBooleans},
            {"relay_acl_allow", "list", {}},
            {"relay_dest_domains.ini", "ini", {}}};
  }

private:
  void loadRelayIni() { cfg_ = host_->config("relay.ini", "ini", RelayIniBooleans); }

  void loadAcl() {
    acl_.clear();
    auto list = host_->config("relay_acl_allow", "list", {});
    if (!list.is_array()) {
      return;
    }
    for (const auto& item : list) {
      if (!item.is_string()) {
        continue;
      }
      auto text = item.get<std::string>();
      if (auto cidr = Cidr::parse(text)) {
        acl_.push_back(*cidr);
      } else {
        host_->log(LogLevel::Error, fmt::format("invalid entry in relay_acl_allow: {}", text));
      }
    }
  }

  void loadDestDomains() {
    domains_ = nlohmann::json::object();
    auto cfg = host_->config("relay_dest_domains.ini", "ini", {});
    if (!cfg.is_object() || !cfg.contains("domains") || !cfg["domains"].is_object()) {
      return;
    }
    for (const auto& [domain, value] : cfg["domains"].items()) {
      auto parsed = value.is_string() ? nlohmann::json::parse(value.get<std::string>(), nullptr,
                                                              /*allow_exceptions=*/false)
                                      : value;
      if (!parsed.is_object()) {
        host_->log(LogLevel::Error,
                   fmt::format("relay_dest_domains.ini [domains] {}: not a JSON object", domain));
        continue;
      }
      domains_[text::toLower(domain)] = parsed;
    }
  }

  void checkAcl(const Next& next, Connection& connection) {
    auto ip = IpAddress::parse(connection.remote().ip);
    bool listed = false;
    if (ip) {
      for (const auto& cidr : acl_) {
        listed = listed || cidr.contains(*ip);
      }
    }
    const auto& name = host_->pluginName();
    if (!listed) {
      connection.results().add(name, {{"skip", "acl(unlisted)"}});
      return next();
    }
    connection.results().add(name, {{"pass", "acl"}});
    connection.setRelaying(true);
    next(Code::Ok);
  }

  void destDomains(const Next& next, Connection& connection, const HookParams& params) {
    auto* txn = connection.transaction();
    if (txn == nullptr || params.address == nullptr) {
      return next();
    }
    const auto& name = host_->pluginName();
    if (connection.relaying()) {
      txn->results().add(name, {{"skip", "relay_dest_domain(relay)"}});
      return next();
    }
    auto it = domains_.find(text::toLower(params.address->host));
    if (it == domains_.end()) {
      txn->results().add(name, {{"fail", "relay_dest_domain"}});
      return next(Code::Deny, "You are not allowed to relay");
    }
    std::string action = it->contains("action") && (*it)["action"].is_string()
                             ? (*it)["action"].get<std::string>()
                             : std::string();
    if (action == "accept" || action == "continue") {
      // Both enable relaying; accept also vouches for the recipient.
      connection.setRelaying(true);
      txn->results().add(name, {{"pass", "relay_dest_domain"}});
      return next(action == "accept" ? Code::Ok : Code::Cont);
    }
    txn->results().add(name, {{"fail", "relay_dest_domain"}});
    if (action == "deny") {
      return next(Code::Deny, "You are not allowed to relay");
    }
    next(Code::Deny, "Mail for that recipient is not accepted here.");
  }

  Host* host_ = nullptr;
  nlohmann::json cfg_;
  std::vector<Cidr> acl_;
  nlohmann::json domains_ = nlohmann::json::object();
};

} // namespace upesi::plugins::relay

std::unique_ptr<upesi::Plugin> upesi_builtin_relay() {
  return std::make_unique<upesi::plugins::relay::Relay>();
}
