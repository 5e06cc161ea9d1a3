#include "common/log/log_config.hpp"

#include <upesi/text.hpp>

#include "common/config/haraka_aliases.hpp"
#include "common/config/ini_locate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>

namespace upesi::log {
namespace {

Result<Level> parseLevel(const nlohmann::json& value, const std::string& location,
                         std::string_view name) {
  std::string text = value.is_string() ? value.get<std::string>() : value.dump();
  auto level = levelFromString(text);
  if (!level) {
    return Error{fmt::format("{}: {}: unknown log level \"{}\" (expected one of data, protocol, "
                             "debug, info, notice, warn, error, crit, alert, emerg)",
                             location, name, text)};
  }
  return *level;
}

// Haraka's flat files hold a word or a number: true/false, yes/no, on/off, 1/0.
std::optional<bool> parseFlatBoolean(const nlohmann::json& value) {
  if (value.is_number_integer() && (value == 0 || value == 1)) {
    return value == 1;
  }
  if (!value.is_string()) {
    return std::nullopt;
  }
  const std::string text = text::toLower(value.get<std::string>());
  if (text == "true" || text == "yes" || text == "on") {
    return true;
  }
  if (text == "false" || text == "no" || text == "off") {
    return false;
  }
  return std::nullopt;
}

} // namespace

Result<LogConfig> readLogConfig(config::Config& config) {
  auto ini = config.get("log.ini", config::ConfigType::Ini, {{"-main.timestamps"}});
  if (!ini) {
    return Error{ini.error()};
  }
  auto aliases = config::readHarakaAliases(config);
  if (!aliases) {
    return Error{aliases.error()};
  }
  LogConfig out;
  const auto& main = (*ini)["main"];
  auto where = [&](const char* key) {
    return config::iniKeyLocation(config, "log.ini", "main", key);
  };
  const auto& flat = aliases->log;
  if (auto it = flat.find("level"); it != flat.end()) {
    auto level = parseLevel(it->second.value, it->second.location, "loglevel");
    if (!level) {
      return Error{level.error()};
    }
    out.settings.level = *level;
  } else if (main.contains("level") && !main["level"].is_null()) {
    auto level = parseLevel(main["level"], where("level"), "[main] level");
    if (!level) {
      return Error{level.error()};
    }
    out.settings.level = *level;
  }
  out.settings.timestamps = main.value("timestamps", false);
  if (auto it = flat.find("timestamps"); it != flat.end()) {
    auto on = parseFlatBoolean(it->second.value);
    if (!on) {
      return Error{fmt::format("{}: log_timestamps must be true or false, not {}",
                               it->second.location, it->second.value.dump())};
    }
    out.settings.timestamps = *on;
  }
  if (main.contains("format")) {
    std::string format = main["format"].is_string() ? main["format"].get<std::string>() : "";
    if (format == "default" || format.empty()) {
      out.settings.format = Format::Default;
    } else if (format == "logfmt") {
      out.settings.format = Format::Logfmt;
    } else if (format == "json") {
      out.settings.format = Format::Json;
    } else {
      return Error{fmt::format("{}: [main] format: \"{}\" is not default, logfmt or json",
                               where("format"), format)};
    }
  }
  if (main.contains("file") && main["file"].is_string()) {
    out.file = main["file"].get<std::string>();
  }
  return out;
}

Result<LogConfig> applyLogConfig(config::Config& config) {
  auto cfg = readLogConfig(config);
  if (!cfg) {
    return cfg;
  }
  auto& logger = Logger::instance();
  logger.configure(cfg->settings);
  if (!logger.setFile(cfg->file)) {
    int err = errno;
    return Error{
        fmt::format("cannot open log file {}: {}", cfg->file,
                    err == ELOOP ? "it is a symbolic link (refused)" : std::strerror(err))};
  }
  return cfg;
}

} // namespace upesi::log
