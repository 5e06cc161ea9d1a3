// early_talker: waits a moment before the banner and before the reply to DATA; a client that
// talks in that silence does not follow the protocol (RFC 5321 4.3.1) and is most likely a
// spam engine firing blind.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include "common/util/cidr.hpp"

#include <fmt/format.h>

#include <cmath>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace upesi::plugins::early_talker {

using util::Cidr;
using util::IpAddress;
namespace {

// A longer pause is cut to this, so a typo cannot stall sessions.
constexpr double MaxPauseSeconds = 300;
constexpr double MsPerSecond = 1000;

const std::vector<std::string> Booleans = {"+main.reject"};

double number(const nlohmann::json& value) {
  if (value.is_number()) {
    return value.get<double>();
  }
  if (value.is_string()) {
    try {
      return std::stod(value.get<std::string>());
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}

} // namespace

class EarlyTalker final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    load();
    host.onConfigChange("early_talker.ini", [this] { load(); });
    registrar.registerHook(
        Hook::ConnectInit,
        [this](Next next, Connection& c, const HookParams&) { pause(next, c, false); }, 0,
        "pause_banner");
    registrar.registerHook(
        Hook::Connect, [this](Next next, Connection& c, const HookParams&) { check(next, c); }, 0,
        "early_talker");
    registrar.registerHook(
        Hook::Data, [this](Next next, Connection& c, const HookParams&) { pause(next, c, true); },
        0, "early_talker");
  }

  void shutdown() override {
    for (auto id : timers_) {
      host_->clearTimeout(id);
    }
    timers_.clear();
  }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"early_talker.ini", "ini", Booleans}};
  }

private:
  void load() {
    auto cfg = host_->config("early_talker.ini", "ini", Booleans);
    const auto& main = cfg.is_object() && cfg.contains("main") ? cfg["main"] : nlohmann::json();
    reject_ = !(main.is_object() && main.contains("reject") && main["reject"].is_boolean()) ||
              main["reject"].get<bool>();
    // Haraka's pause is in seconds (fractions allowed).
    double seconds = main.is_object() && main.contains("pause") ? number(main["pause"]) : 0;
    if (!std::isfinite(seconds) || seconds < 0) {
      seconds = 0;
    }
    pause_ms_ = static_cast<std::uint64_t>(std::min(seconds, MaxPauseSeconds) * MsPerSecond);
    whitelist_.clear();
    if (cfg.is_object() && cfg.contains("ip_whitelist") && cfg["ip_whitelist"].is_object()) {
      for (const auto& [key, value] : cfg["ip_whitelist"].items()) {
        if (auto cidr = Cidr::parse(key)) {
          whitelist_.push_back(*cidr);
        } else {
          host_->log(LogLevel::Error,
                     fmt::format("early_talker.ini [ip_whitelist]: not an address: {}", key));
        }
      }
    }
  }

  bool shouldCheck(Connection& connection) {
    const auto& name = host_->pluginName();
    auto& results = connection.results();
    const auto& notes = connection.notes();
    if (notes.contains("auth_user") && !notes["auth_user"].is_null()) {
      results.add(name, {{"skip", "authed"}});
      return false;
    }
    if (connection.relaying()) {
      results.add(name, {{"skip", "relay"}});
      return false;
    }
    if (auto ip = IpAddress::parse(connection.remote().ip)) {
      for (const auto& cidr : whitelist_) {
        if (cidr.contains(*ip)) {
          results.add(name, {{"skip", "whitelist"}});
          return false;
        }
      }
    }
    const auto& karma = results.get("karma");
    if (karma.is_object() && karma.contains("good") && karma["good"].is_number() &&
        karma["good"].get<double>() > 0) {
      results.add(name, {{"skip", "+karma"}});
      return false;
    }
    if (connection.remote().is_local) {
      results.add(name, {{"skip", "local_ip"}});
      return false;
    }
    if (connection.remote().is_private) {
      results.add(name, {{"skip", "private_ip"}});
      return false;
    }
    return true;
  }

  /// Before the banner (connect_init: the verdict comes at connect) or before DATA's reply.
  void pause(const Next& next, Connection& connection, bool verdict_now) {
    if (pause_ms_ == 0 || !shouldCheck(connection)) {
      return next();
    }
    Connection* conn = &connection;
    auto id = std::make_shared<std::uint64_t>(0);
    *id = host_->setTimeout(pause_ms_, [this, next, conn, verdict_now, id] {
      timers_.erase(*id);
      // The client may be gone: only a pending next proves the connection still exists.
      if (!next.pending()) {
        return;
      }
      if (verdict_now) {
        return verdict(next, *conn);
      }
      next();
    });
    timers_.insert(*id);
  }

  void check(const Next& next, Connection& connection) {
    // Without a pause there was no silence to break (as in Haraka: the plugin is off).
    if (pause_ms_ == 0 || !shouldCheck(connection)) {
      return next();
    }
    verdict(next, connection);
  }

  void verdict(const Next& next, Connection& connection) {
    const auto& name = host_->pluginName();
    if (!connection.earlyTalker()) {
      connection.results().add(name, {{"pass", "early"}});
      return next();
    }
    connection.results().add(name, {{"fail", "early"}});
    if (!reject_) {
      return next();
    }
    next(Code::DenyDisconnect, "You talk too soon");
  }

  Host* host_ = nullptr;
  bool reject_ = true;
  std::uint64_t pause_ms_ = 0;
  std::vector<Cidr> whitelist_;
  std::set<std::uint64_t> timers_;
};

} // namespace upesi::plugins::early_talker

std::unique_ptr<upesi::Plugin> upesi_builtin_early_talker() {
  return std::make_unique<upesi::plugins::early_talker::EarlyTalker>();
}
