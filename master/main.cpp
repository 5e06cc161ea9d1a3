// upesi: the command line, and the server's entry point.
#include "build_info.hpp"
#include "common/config/config.hpp"
#include "common/config/smtp_config.hpp"
#include "common/log/log_config.hpp"
#include "common/log/logger.hpp"
#include "common/plugin/plugin_set.hpp"
#include "common/util/paths.hpp"
#include "master/cli.hpp"
#include "master/config_check.hpp"
#include "master/install_skeleton.hpp"
#include "master/run_server.hpp"

#include <fmt/format.h>

#include <cstdio>

namespace upesi::master {
namespace {

int printErrors(const std::vector<std::string>& errors) {
  for (const auto& e : errors) {
    fmt::print(stderr, "upesi: {}\n", e);
  }
  return errors.empty() ? 0 : 1;
}

int listPlugins(const CliOptions& options) {
  for (const auto& p : plugin::availablePlugins(options.install_dir)) {
    fmt::print("{:<32} {}\n", p.name, p.origin);
  }
  return 0;
}

int pluginHelp(const CliOptions& options) {
  auto info = plugin::findPlugin(options.plugin_name, options.install_dir);
  if (!info) {
    fmt::print(stderr, "upesi: {}\n", info.error());
    return 1;
  }
  if (info->help.empty()) {
    fmt::print("{} ({}): no documentation\n", info->name, info->origin);
  } else {
    fmt::print("{}", info->help);
    if (info->help.back() != '\n') {
      fmt::print("\n");
    }
  }
  return 0;
}

int hookOrder(const CliOptions& options) {
  std::filesystem::path dir = options.install_dir;
  config::Config config(dir / "config", defaultsDir());
  plugin::ProcessServices services;
  auto plugins = plugin::PluginSet::load(config, dir, services);
  if (!plugins) {
    fmt::print(stderr, "upesi: {}\n", plugins.error());
    return 1;
  }
  for (std::size_t h = 0; h < HookCount; ++h) {
    const auto& entries = (*plugins)->hooks().entries(static_cast<Hook>(h));
    if (entries.empty()) {
      continue;
    }
    fmt::print("{}\n", HookNames[h]);
    for (const auto& e : entries) {
      fmt::print("  {:>4}  {:<32} {:<24} timeout={}s\n", e.priority, e.plugin, e.method,
                 e.timeout.count() / 1000);
    }
  }
  (*plugins)->shutdown();
  return 0;
}

int install(const CliOptions& options) {
  auto created = installSkeleton(options.install_dir);
  if (!created) {
    fmt::print(stderr, "upesi: {}\n", created.error());
    return 1;
  }
  for (const auto& path : *created) {
    fmt::print("created {}\n", path);
  }
  if (created->empty()) {
    fmt::print("{} is already complete; nothing created\n", options.install_dir);
  }
  return 0;
}

} // namespace
} // namespace upesi::master

int main(int argc, char** argv) {
  using namespace upesi::master;
  auto options = parseCommandLine(argc, argv);
  if (!options) {
    fmt::print(stderr, "upesi: {}\n", options.error());
    return 2;
  }
  switch (options->command) {
  case Command::Usage:
    fmt::print("{}", usageText());
    fmt::print("\nShipped defaults: {}\n", upesi::defaultsDir().string());
    return 0;
  case Command::Version:
    fmt::print("upesi {} (plugin API {})\n", UPESI_VERSION, upesi::PluginApiVersion);
    return 0;
  case Command::Install:
    return install(*options);
  case Command::List:
    return listPlugins(*options);
  case Command::PluginHelp:
    return pluginHelp(*options);
  case Command::Order:
    return hookOrder(*options);
  case Command::Check: {
    auto errors = checkInstall(options->install_dir);
    if (errors.empty()) {
      fmt::print("{}: configuration OK\n", options->install_dir);
    }
    return printErrors(errors);
  }
  case Command::Run: {
    auto errors = checkInstall(options->install_dir);
    if (!errors.empty()) {
      return printErrors(errors);
    }
    return runServer(options->install_dir);
  }
  }
  return 2;
}
