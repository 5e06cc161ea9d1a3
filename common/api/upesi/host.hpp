// Host: what the server offers a plugin — its config files, logging with the plugin's name, and
// the install's directories. One Host per plugin instance, valid until the plugin's shutdown().
//
// Config values are JSON values (nlohmann/json, header-only), the same representation Haraka's
// config.get returns: ini as {section: {key: value}}, list as an array of strings, value as a
// string or number.
#pragma once

#include <upesi/log_level.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi {

class Connection;

class Host {
public:
  virtual ~Host() = default;

  /// The plugin's name as listed in config/plugins.
  virtual const std::string& pluginName() const = 0;

  /// Reads config/<name> (over the shipped defaults) as `type`: value, list, data, ini, json,
  /// yaml or binary. A broken file is logged and reads as empty.
  virtual nlohmann::json config(const std::string& name, std::string_view type = "value",
                                const std::vector<std::string>& booleans = {}) = 0;

  /// Calls `callback` after config/<name> changed on disk and re-read cleanly.
  virtual void onConfigChange(const std::string& name, std::function<void()> callback) = 0;

  /// Logs with the plugin's name and, when given, the connection's or transaction's uuid.
  virtual void log(LogLevel level, std::string_view message,
                   const Connection* connection = nullptr) = 0;

  /// The install directory given with -c.
  virtual const std::filesystem::path& installDir() const = 0;
};

} // namespace upesi
