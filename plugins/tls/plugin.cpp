// tls: offers STARTTLS (RFC 3207). The certificates are loaded by the server when this plugin
// is listed (so a bad key or certificate stops the start, or keeps the running generation on a
// reload); the handshake is the core's. This plugin decides who is offered it.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include "common/util/cidr.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

namespace upesi::plugins::tls {

using util::Cidr;
using util::IpAddress;

class Tls final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    load();
    host.onConfigChange("tls.ini", [this] { load(); });
    registrar.registerHook(
        Hook::Capabilities,
        [this](Next next, Connection& c, const HookParams&) {
          if (offer(c)) {
            c.capabilities().push_back("STARTTLS");
          }
          next();
        },
        0, "advertise");
  }

  std::vector<ConfigFileSpec> configFiles() const override { return {{"tls.ini", "ini", {}}}; }

private:
  void load() {
    auto ini = host_->config("tls.ini", "ini", {});
    no_tls_hosts_.clear();
    no_starttls_ports_.clear();
    if (!ini.is_object()) {
      return;
    }
    if (ini.contains("no_tls_hosts") && ini["no_tls_hosts"].is_object()) {
      for (const auto& [host, value] : ini["no_tls_hosts"].items()) {
        if (auto cidr = Cidr::parse(host)) {
          no_tls_hosts_.push_back(*cidr);
        } else {
          host_->log(LogLevel::Error,
                     fmt::format("tls.ini [no_tls_hosts]: not an IP or CIDR: {}", host));
        }
      }
    }
    if (ini.contains("main") && ini["main"].contains("no_starttls_ports")) {
      auto ports = ini["main"]["no_starttls_ports"];
      for (const auto& p : ports.is_array() ? ports : nlohmann::json::array({ports})) {
        if (p.is_number_integer()) {
          no_starttls_ports_.push_back(p.get<int>());
        }
      }
    }
  }

  bool offer(const Connection& c) const {
    if (c.tls()) {
      return false;
    }
    if (std::find(no_starttls_ports_.begin(), no_starttls_ports_.end(), c.local().port) !=
        no_starttls_ports_.end()) {
      return false;
    }
    auto ip = IpAddress::parse(c.remote().ip);
    return !ip || std::none_of(no_tls_hosts_.begin(), no_tls_hosts_.end(),
                               [&](const Cidr& cidr) { return cidr.contains(*ip); });
  }

  Host* host_ = nullptr;
  std::vector<Cidr> no_tls_hosts_;
  std::vector<int> no_starttls_ports_;
};

} // namespace upesi::plugins::tls

std::unique_ptr<upesi::Plugin> upesi_builtin_tls() {
  return std::make_unique<upesi::plugins::tls::Tls>();
}
