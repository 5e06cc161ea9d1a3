// auth/flat_file: AUTH against users and passwords listed in auth_flat_file.ini. The core does
// the SASL exchange; this plugin offers the mechanisms and checks the credentials.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include "common/util/text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace upesi::plugins::auth_flat_file {
namespace {

const std::vector<std::string> IniBooleans = {"+core.constrain_sender"};

std::string domainOf(const std::string& address) {
  auto at = address.rfind('@');
  return at == std::string::npos ? std::string() : text::toLower(address.substr(at + 1));
}

} // namespace

class FlatFile final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    load();
    host.onConfigChange("auth_flat_file.ini", [this] { load(); });
    registrar.registerHook(
        Hook::Capabilities,
        [this](Next next, Connection& c, const HookParams&) {
          if (!methods_.empty()) {
            std::string line = "AUTH";
            for (const auto& m : methods_) {
              line += " " + m;
            }
            c.capabilities().push_back(line); // the core withholds it outside TLS
          }
          next();
        },
        0, "advertise");
    registrar.registerHook(
        Hook::Auth, [this](Next next, Connection& c, const HookParams& p) { check(next, c, p); }, 0,
        "check");
    registrar.registerHook(
        Hook::Mail,
        [this](Next next, Connection& c, const HookParams& p) { constrainSender(next, c, p); }, 0,
        "constrain_sender");
  }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"auth_flat_file.ini", "ini", IniBooleans}};
  }

private:
  void load() {
    auto ini = host_->config("auth_flat_file.ini", "ini", IniBooleans);
    methods_ = {"PLAIN", "LOGIN", "CRAM-MD5"};
    users_.clear();
    constrain_sender_ = true;
    if (!ini.is_object()) {
      return;
    }
    if (ini.contains("core") && ini["core"].is_object()) {
      const auto& core = ini["core"];
      if (core.contains("methods") && core["methods"].is_string()) {
        methods_.clear();
        for (const auto& item : text::splitList(core["methods"].get<std::string>())) {
          methods_.push_back(text::toUpper(item));
        }
      }
      constrain_sender_ = core.value("constrain_sender", true);
    }
    if (ini.contains("users") && ini["users"].is_object()) {
      for (const auto& [user, password] : ini["users"].items()) {
        if (password.is_string()) {
          users_[user] = password.get<std::string>();
        } else if (password.is_number()) {
          users_[user] = password.dump(); // "1234" is read as a number
        }
      }
    }
  }

  void check(const Next& next, Connection& connection, const HookParams& params) {
    const auto* attempt = params.auth;
    if (attempt == nullptr ||
        std::find(methods_.begin(), methods_.end(), attempt->method) == methods_.end()) {
      return next();
    }
    auto it = users_.find(attempt->user);
    if (it == users_.end()) {
      host_->log(LogLevel::Info, "no such user in auth_flat_file.ini", &connection);
      return next(); // another auth plugin may know the user
    }
    // The user is recorded, never the password.
    if (attempt->matches(it->second)) {
      connection.results().add(host_->pluginName(),
                               {{"pass", attempt->method}, {"user", attempt->user}});
      return next(Code::Ok);
    }
    connection.results().add(host_->pluginName(),
                             {{"fail", attempt->method}, {"user", attempt->user}});
    next(Code::Deny, "Authentication credentials invalid");
  }

  // Haraka's constrain_sender: a user named like an address sends only from its domain.
  void constrainSender(const Next& next, Connection& connection, const HookParams& params) {
    const std::string& user = connection.authUser();
    if (!constrain_sender_ || user.empty() || params.address == nullptr ||
        params.address->is_null) {
      return next();
    }
    std::string auth_domain = domainOf(user);
    std::string sender_domain = text::toLower(params.address->host);
    if (auth_domain.empty() || auth_domain == sender_domain) {
      return next();
    }
    next(Code::Deny, fmt::format("Envelope domain '{}' doesn't match AUTH domain '{}'",
                                 sender_domain, auth_domain));
  }

  Host* host_ = nullptr;
  std::vector<std::string> methods_;
  std::map<std::string, std::string> users_;
  bool constrain_sender_ = true;
};

} // namespace upesi::plugins::auth_flat_file

std::unique_ptr<upesi::Plugin> upesi_builtin_auth_flat_file() {
  return std::make_unique<upesi::plugins::auth_flat_file::FlatFile>();
}
