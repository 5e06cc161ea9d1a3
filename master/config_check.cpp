#include "master/config_check.hpp"

#include "common/config/config.hpp"
#include "common/config/smtp_config.hpp"
#include "common/log/log_config.hpp"
#include "common/plugin/plugin_set.hpp"
#include "common/tls/tls_context.hpp"
#include "common/util/paths.hpp"
#include "master/trusted_files.hpp"

#include <fmt/format.h>

#include <set>
#include <unistd.h>

namespace upesi::master {
namespace fs = std::filesystem;

std::vector<std::string> checkInstall(const fs::path& install_dir) {
  std::vector<std::string> errors;
  std::error_code ec;
  if (!fs::is_directory(install_dir / "config", ec)) {
    errors.push_back(fmt::format("{}: no config/ directory here (create one with upesi -i DIR)",
                                 install_dir.string()));
    return errors;
  }
  if (::geteuid() == 0) {
    errors = checkTrustedFiles(install_dir);
    if (!errors.empty()) {
      return errors; // reading further would load the plugins in question
    }
  }
  config::Config config(install_dir / "config", defaultsDir());
  config.setErrorCallback([&](const std::string& e) { errors.push_back(e); });

  if (auto smtp = config::readSmtpConfig(config); !smtp) {
    errors.push_back(smtp.error());
  }
  if (auto logc = log::readLogConfig(config); !logc) {
    errors.push_back(logc.error());
  }
  for (const char* name : {"me", "plugin_timeout"}) {
    if (auto v = config.get(name, config::ConfigType::Value); !v) {
      errors.push_back(v.error());
    }
  }
  if (auto v = config.get("host_list", config::ConfigType::List); !v) {
    errors.push_back(v.error());
  }

  // Every structured file in config/, whether or not something enabled reads it: a typo in a
  // file read later (on reload, by a plugin enabled later) is still a typo.
  std::set<std::string> seen;
  for (auto it = fs::recursive_directory_iterator(install_dir / "config", ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec || !it->is_regular_file()) {
      continue;
    }
    auto rel = fs::relative(it->path(), install_dir / "config", ec).string();
    auto type = config::inferConfigType(rel);
    if (type == config::ConfigType::Value) {
      continue;
    }
    if (auto v = config.get(rel, type); !v) {
      errors.push_back(v.error());
      seen.insert(rel);
    }
  }

  plugin::ProcessServices services;
  auto plugins = plugin::PluginSet::load(config, install_dir, services);
  if (!plugins) {
    errors.push_back(plugins.error());
    return errors;
  }
  for (const auto& p : (*plugins)->plugins()) {
    for (const auto& spec : p.instance->configFiles()) {
      auto type = config::configTypeFromString(spec.type);
      if (!type) {
        errors.push_back(fmt::format("plugin {}: unknown config type \"{}\" for {}", p.info.name,
                                     spec.type, spec.name));
        continue;
      }
      if (seen.count(spec.name) != 0) {
        continue; // already reported
      }
      if (auto v = config.get(spec.name, *type, {spec.booleans}); !v) {
        errors.push_back(fmt::format("{} (read by plugin {})", v.error(), p.info.name));
      }
    }
  }
  for (const auto& p : (*plugins)->plugins()) {
    if (p.info.name == "tls") {
      if (auto tls = tls::loadInboundTls(config); !tls) {
        errors.push_back(tls.error());
      }
    }
  }
  // The convenience getters report through the callback too: keep each message once.
  std::vector<std::string> unique;
  std::set<std::string> reported;
  for (auto& e : errors) {
    if (reported.insert(e).second) {
      unique.push_back(std::move(e));
    }
  }
  return unique;
}

} // namespace upesi::master
