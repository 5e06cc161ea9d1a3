// tarpit: slows a client down. Any plugin can sentence a connection by setting
// connection.notes.tarpit (or transaction.notes.tarpit) to a number of seconds; this plugin then
// delays each listed hook by that long before the chain goes on.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include <fmt/format.h>

#include <cmath>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace upesi::plugins::tarpit {
namespace {

// A longer tarpit is cut to this: a note with a typo must not hold a session for days.
constexpr double MaxTarpitSeconds = 3600;
constexpr double MsPerSecond = 1000;

const std::vector<std::string> DefaultHooks = {
    "connect", "helo", "ehlo",      "mail",  "rcpt",
    "rcpt_ok", "data", "data_post", "queue", "unrecognized_command",
    "vrfy",    "noop", "rset",      "quit"};

/// Seconds from a note: a number or a numeric string; nullopt when absent or not a number.
std::optional<double> seconds(const nlohmann::json& notes) {
  if (!notes.is_object() || !notes.contains("tarpit")) {
    return std::nullopt;
  }
  const auto& value = notes["tarpit"];
  double s = 0;
  if (value.is_number()) {
    s = value.get<double>();
  } else if (value.is_string()) {
    try {
      s = std::stod(value.get<std::string>());
    } catch (const std::exception&) {
      return std::nullopt;
    }
  } else {
    return std::nullopt;
  }
  if (!std::isfinite(s)) {
    return std::nullopt;
  }
  return s;
}

} // namespace

/// Haraka splits hooks_to_delay on white space, commas and semicolons.
std::vector<std::string> splitHookList(std::string_view text) {
  std::vector<std::string> out;
  std::string current;
  for (const char c : text) {
    if (c == ' ' || c == '\t' || c == ',' || c == ';' || c == '\r' || c == '\n') {
      if (!current.empty()) {
        out.push_back(std::move(current));
        current.clear();
      }
    } else {
      current += c;
    }
  }
  if (!current.empty()) {
    out.push_back(std::move(current));
  }
  return out;
}

class Tarpit final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    auto cfg = host.config("tarpit.ini", "ini", {});
    auto names = DefaultHooks;
    if (cfg.is_object() && cfg.contains("main") && cfg["main"].is_object() &&
        cfg["main"].contains("hooks_to_delay") && cfg["main"]["hooks_to_delay"].is_string()) {
      names = splitHookList(cfg["main"]["hooks_to_delay"].get<std::string>());
    }
    std::set<Hook> registered;
    for (const auto& name : names) {
      auto hook = hookFromString(name);
      // connect_init and disconnect ignore answers, the outbound hooks have no connection,
      // deny runs inside another hook.
      if (!hook || *hook == Hook::ConnectInit || *hook == Hook::Disconnect || *hook == Hook::Deny ||
          *hook == Hook::InitMaster || *hook == Hook::InitChild || *hook == Hook::InitHttp ||
          *hook == Hook::InitWss || isOutboundHook(*hook)) {
        host.log(LogLevel::Error,
                 fmt::format("tarpit.ini hooks_to_delay: cannot delay \"{}\"", name));
        continue;
      }
      if (!registered.insert(*hook).second) {
        continue;
      }
      // First in each chain, so the delay comes before any other plugin's answer.
      registrar.registerHook(
          *hook, [this](Next next, Connection& c, const HookParams&) { delay(next, c); },
          MinHookPriority, "tarpit");
    }
  }

  void shutdown() override {
    for (auto id : timers_) {
      host_->clearTimeout(id);
    }
    timers_.clear();
  }

  std::vector<ConfigFileSpec> configFiles() const override { return {{"tarpit.ini", "ini", {}}}; }

private:
  void delay(const Next& next, Connection& connection) {
    auto s = seconds(connection.notes());
    if (!s && connection.transaction() != nullptr) {
      s = seconds(connection.transaction()->notes());
    }
    if (!s || *s <= 0) {
      return next();
    }
    const double bounded = std::min(*s, MaxTarpitSeconds);
    host_->log(LogLevel::Info, fmt::format("tarpitting response for {}s", bounded), &connection);
    auto id = std::make_shared<std::uint64_t>(0);
    *id = host_->setTimeout(static_cast<std::uint64_t>(bounded * MsPerSecond), [this, next, id] {
      timers_.erase(*id);
      next();
    });
    timers_.insert(*id);
  }

  Host* host_ = nullptr;
  std::set<std::uint64_t> timers_;
};

} // namespace upesi::plugins::tarpit

std::unique_ptr<upesi::Plugin> upesi_builtin_tarpit() {
  return std::make_unique<upesi::plugins::tarpit::Tarpit>();
}
