#include "common/plugin/plugin_host.hpp"

#include "common/config/formats.hpp"
#include "common/log/escape.hpp"
#include "common/log/logger.hpp"

namespace upesi::plugin {

nlohmann::json PluginHost::config(const std::string& name, std::string_view type,
                                  const std::vector<std::string>& booleans) {
  auto parsed_type = config::configTypeFromString(type);
  if (!parsed_type) {
    log::error({"", name_}, "unknown config type \"{}\" for {}", log::escaped(type), name);
    return nullptr;
  }
  auto value = config_.get(name, *parsed_type, {booleans});
  if (!value) {
    log::error({"", name_}, "{}", value.error());
    auto empty = config::emptyConfig(*parsed_type);
    if (*parsed_type == config::ConfigType::Ini) {
      config::applyBooleanDefaults(empty, config::parseBooleanDecls(booleans));
    }
    return empty;
  }
  return *value;
}

void PluginHost::onConfigChange(const std::string& name, std::function<void()> callback) {
  config_.onChange(name, [cb = std::move(callback)](const std::string&) { cb(); });
}

void PluginHost::log(LogLevel level, std::string_view message, const Connection* /*connection*/) {
  auto& logger = log::Logger::instance();
  if (logger.enabled(level)) {
    logger.write(level, {"", name_}, message);
  }
}

} // namespace upesi::plugin
