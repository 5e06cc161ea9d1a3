// PluginHost: the server's side of upesi::Host for one plugin instance.
#pragma once

#include <upesi/host.hpp>

#include "common/config/config.hpp"

namespace upesi::plugin {

class PluginHost final : public Host {
public:
  PluginHost(std::string plugin_name, config::Config& config, std::filesystem::path install_dir)
      : name_(std::move(plugin_name)), config_(config), install_dir_(std::move(install_dir)) {}

  const std::string& pluginName() const override { return name_; }
  nlohmann::json config(const std::string& name, std::string_view type,
                        const std::vector<std::string>& booleans) override;
  void onConfigChange(const std::string& name, std::function<void()> callback) override;
  void log(LogLevel level, std::string_view message, const Connection* connection) override;
  const std::filesystem::path& installDir() const override { return install_dir_; }

private:
  std::string name_;
  config::Config& config_;
  std::filesystem::path install_dir_;
};

} // namespace upesi::plugin
