// relay: decides which clients may relay (Haraka's relay plugin): by client IP
// (config/relay_acl_allow), everyone (relay.ini all=true), and per destination domain
// (relay_dest_domains.ini).
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include <arpa/inet.h>
#include <array>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace upesi::plugins::relay {
namespace {

struct Cidr {
  int family = AF_INET;
  std::array<unsigned char, 16> bytes{};
  int bits = 0;
};

std::optional<Cidr> parseCidr(std::string text) {
  Cidr c;
  auto slash = text.find('/');
  std::string addr = text.substr(0, slash);
  if (::inet_pton(AF_INET, addr.c_str(), c.bytes.data()) == 1) {
    c.family = AF_INET;
    c.bits = 32;
  } else if (::inet_pton(AF_INET6, addr.c_str(), c.bytes.data()) == 1) {
    c.family = AF_INET6;
    c.bits = 128;
  } else {
    return std::nullopt;
  }
  if (slash != std::string::npos) {
    int max = c.bits;
    try {
      std::size_t used = 0;
      c.bits = std::stoi(text.substr(slash + 1), &used);
      if (used != text.size() - slash - 1) {
        return std::nullopt;
      }
    } catch (const std::exception&) {
      return std::nullopt;
    }
    if (c.bits < 0 || c.bits > max) {
      return std::nullopt;
    }
  }
  return c;
}

bool contains(const Cidr& net, const std::string& ip) {
  std::array<unsigned char, 16> bytes{};
  if (::inet_pton(net.family, ip.c_str(), bytes.data()) != 1) {
    return false;
  }
  int full = net.bits / 8;
  if (std::memcmp(bytes.data(), net.bytes.data(), static_cast<std::size_t>(full)) != 0) {
    return false;
  }
  int rest = net.bits % 8;
  if (rest == 0) {
    return true;
  }
  auto mask = static_cast<unsigned char>(0xFFU << (8 - rest));
  return (bytes[full] & mask) == (net.bytes[full] & mask);
}

class Relay final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    load();
    host.onConfigChange("relay.ini", [this] { load(); });
    host.onConfigChange("relay_acl_allow", [this] { load(); });
    host.onConfigChange("relay_dest_domains.ini", [this] { load(); });
    registrar.registerHook(
        Hook::ConnectInit,
        [this](Next next, Connection& c, const HookParams&) { onConnect(next, c); }, 0,
        "acl");
    registrar.registerHook(
        Hook::Rcpt, [this](Next next, Connection& c, const HookParams& p) { onRcpt(next, c, p); },
        0, "dest_domains");
  }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"relay.ini", "ini", Booleans},
            {"relay_acl_allow", "list", {}},
            {"relay_dest_domains.ini", "ini", {}}};
  }

private:
  static inline const std::vector<std::string> Booleans = {
      "+relay.acl", "-relay.force_routing", "-relay.dest_domains", "-relay.all"};

  void load() {
    auto ini = host_->config("relay.ini", "ini", Booleans);
    acl_ = ini["relay"].value("acl", true);
    all_ = ini["relay"].value("all", false);
    dest_domains_ = ini["relay"].value("dest_domains", false);
    std::vector<Cidr> allow;
    for (const auto& entry : host_->config("relay_acl_allow", "list")) {
      auto cidr = parseCidr(entry.get<std::string>());
      if (!cidr) {
        host_->log(LogLevel::Error,
                   "relay_acl_allow: \"" + entry.get<std::string>() + "\" is not an IP or CIDR");
        continue;
      }
      allow.push_back(*cidr);
    }
    allow_ = std::make_shared<const std::vector<Cidr>>(std::move(allow));
    domains_ = host_->config("relay_dest_domains.ini", "ini")["domains"];
    if (all_) {
      host_->log(LogLevel::Warn, "relay.ini all=true: this server relays for everyone");
    }
  }

  void onConnect(const Next& next, Connection& connection) {
    if (all_) {
      connection.setRelaying(true);
      connection.results().add("relay", {{"pass", "all"}});
    } else if (acl_) {
      for (const auto& net : *allow_) {
        if (contains(net, connection.remote().ip)) {
          connection.setRelaying(true);
          connection.results().add("relay", {{"pass", "acl"}});
          break;
        }
      }
    }
    next();
  }

  void onRcpt(const Next& next, Connection& connection, const HookParams& params) {
    if (!dest_domains_ || connection.relaying() || params.address == nullptr) {
      next();
      return;
    }
    std::string domain = params.address->host;
    if (!domains_.is_object() || !domains_.contains(domain)) {
      next();
      return;
    }
    const auto& entry = domains_[domain];
    nlohmann::json spec = entry.is_string() ? nlohmann::json::parse(entry.get<std::string>(),
                                                                    nullptr, false)
                                            : entry;
    std::string action = spec.is_object() ? spec.value("action", std::string()) : "";
    if (action == "accept") {
      next(Code::Ok);
    } else if (action == "deny") {
      next(Code::Deny, "You are not allowed to send mail to " + domain);
    } else {
      next();
    }
  }

  Host* host_ = nullptr;
  bool acl_ = true;
  bool all_ = false;
  bool dest_domains_ = false;
  std::shared_ptr<const std::vector<Cidr>> allow_;
  nlohmann::json domains_;
};

} // namespace
} // namespace upesi::plugins::relay

std::unique_ptr<upesi::Plugin> upesi_builtin_relay() {
  return std::make_unique<upesi::plugins::relay::Relay>();
}
