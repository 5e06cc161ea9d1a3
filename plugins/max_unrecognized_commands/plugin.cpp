// max_unrecognized_commands: disconnects a client that keeps sending commands the server does
// not know (a sign of a confused or abusive peer, or of a cross-protocol attack).
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include <fmt/format.h>

#include <memory>
#include <string>

namespace upesi::plugins::max_unrecognized_commands {

inline constexpr long long DefaultMax = 10;

class MaxUnrecognizedCommands final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    load();
    host.onConfigChange("max_unrecognized_commands", [this] { load(); });
    registrar.registerHook(
        Hook::UnrecognizedCommand,
        [this](Next next, Connection& c, const HookParams& p) { count(next, c, p); });
  }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"max_unrecognized_commands", "value", {}}};
  }

private:
  void load() {
    auto value = host_->config("max_unrecognized_commands", "value", {});
    max_ = DefaultMax;
    if (value.is_number_integer() && value.get<long long>() > 0) {
      max_ = value.get<long long>();
    } else if (value.is_string() && !value.get<std::string>().empty()) {
      try {
        max_ = std::stoll(value.get<std::string>());
      } catch (const std::exception&) {
        max_ = 0;
      }
      if (max_ <= 0) {
        host_->log(LogLevel::Error,
                   fmt::format("max_unrecognized_commands: \"{}\" is not a positive number; "
                               "using {}",
                               value.get<std::string>(), DefaultMax));
        max_ = DefaultMax;
      }
    }
  }

  void count(const Next& next, Connection& connection, const HookParams& params) {
    auto& counter = connection.notes()["unrecognized_command_count"];
    long long seen = counter.is_number_integer() ? counter.get<long long>() : 0;
    counter = ++seen;
    const auto& name = host_->pluginName();
    connection.results().add(name, {{"fail", std::string(params.verb)}});
    if (seen >= max_) {
      connection.results().add(name, {{"fail", "max_unrecognized_commands"}});
      return next(Code::DenyDisconnect, "Too many unrecognized commands");
    }
    next();
  }

  Host* host_ = nullptr;
  long long max_ = DefaultMax;
};

} // namespace upesi::plugins::max_unrecognized_commands

std::unique_ptr<upesi::Plugin> upesi_builtin_max_unrecognized_commands() {
  return std::make_unique<upesi::plugins::max_unrecognized_commands::MaxUnrecognizedCommands>();
}
