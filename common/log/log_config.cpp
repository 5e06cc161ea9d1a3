#include "common/log/log_config.hpp"

#include "common/config/ini_locate.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

namespace upesi::log {

Result<LogConfig> readLogConfig(config::Config& config) {
  auto ini = config.get("log.ini", config::ConfigType::Ini, {{"-main.timestamps"}});
  if (!ini) {
    return Error{ini.error()};
  }
  LogConfig out;
  const auto& main = (*ini)["main"];
  auto where = [&](const char* key) {
    return config::iniKeyLocation(config, "log.ini", "main", key);
  };
  if (main.contains("level") && !main["level"].is_null()) {
    std::string text =
        main["level"].is_string() ? main["level"].get<std::string>() : main["level"].dump();
    auto level = levelFromString(text);
    if (!level) {
      return Error{fmt::format("{}: [main] level: unknown log level \"{}\" (expected one of "
                               "data, protocol, debug, info, notice, warn, error, crit, alert, "
                               "emerg)",
                               where("level"), text)};
    }
    out.settings.level = *level;
  }
  out.settings.timestamps = main.value("timestamps", false);
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
