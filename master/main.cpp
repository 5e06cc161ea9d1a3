// upesi: the command line, and the server's entry point.
#include "common/config/config.hpp"
#include "common/config/smtp_config.hpp"
#include "common/log/log_config.hpp"
#include "common/log/logger.hpp"
#include "common/plugin/plugin_set.hpp"
#include "common/util/paths.hpp"
#include "common/util/process_title.hpp"
#include "master/cli.hpp"
#include "master/config_check.hpp"
#include "master/install_skeleton.hpp"
#include "master/pid_file.hpp"
#include "master/queue_cli.hpp"
#include "master/run_server.hpp"
#include "master/signals.hpp"
#include "master/trusted_files.hpp"
#include "worker/server/worker_process.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <unistd.h>

#include "build_commit.hpp"
#include "build_info.hpp"

namespace upesi::master {
namespace {

int printErrors(const std::vector<std::string>& errors) {
  for (const auto& e : errors) {
    fmt::print(stderr, "upesi: {}\n", e);
  }
  return errors.empty() ? 0 : 1;
}

// Warnings and notices leave the exit status alone: the install runs, but an operator should
// look.
void printWarnings(const CheckReport& report) {
  for (const auto& n : report.notices) {
    fmt::print(stderr, "upesi: notice: {}\n", n);
  }
  for (const auto& w : report.warnings) {
    fmt::print(stderr, "upesi: warning: {}\n", w);
  }
}

// -l, -h and -o dlopen the install's shared objects: as root, only trusted ones.
bool refuseUntrusted(const CliOptions& options) {
  if (options.install_dir.empty() || ::geteuid() != 0) {
    return false;
  }
  return printErrors(checkTrustedFiles(options.install_dir)) != 0;
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

// The pid of the master named in the pid file, if it is alive.
Result<pid_t> findMaster(const CliOptions& options) {
  std::filesystem::path dir = options.install_dir;
  config::Config config(dir / "config", defaultsDir());
  auto smtp = config::readSmtpConfig(config);
  if (!smtp) {
    return Error{smtp.error()};
  }
  return readLivePid(pidFilePath(smtp->pid_file, dir));
}

// --reload, --flush, --stop: the signal, sent to the master named in the pid file.
int signalMaster(const CliOptions& options, MasterAction action) {
  auto pid = findMaster(options);
  if (!pid) {
    fmt::print(stderr, "upesi: {}\n", pid.error());
    return 1;
  }
  if (::kill(*pid, signalFor(action)) != 0) {
    fmt::print(stderr, "upesi: cannot signal pid {}: {}\n", *pid, std::strerror(errno));
    return 1;
  }
  fmt::print("asked upesi (pid {}) to {}\n", *pid, actionName(action));
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
  upesi::initProcessTitle(argc, argv);
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
    fmt::print("upesi {} (commit {}, plugin API {})\n", UPESI_VERSION, UPESI_BUILD_COMMIT,
               upesi::PluginApiVersion);
    return 0;
  case Command::Install:
    return install(*options);
  case Command::List:
  case Command::PluginHelp:
  case Command::Order:
    if (refuseUntrusted(*options)) {
      return 1;
    }
    if (options->command == Command::List) {
      return listPlugins(*options);
    }
    return options->command == Command::Order ? hookOrder(*options) : pluginHelp(*options);
  case Command::Check: {
    auto report = checkInstall(options->install_dir);
    printWarnings(report);
    if (report.errors.empty()) {
      fmt::print("{}: configuration OK\n", options->install_dir);
    }
    return printErrors(report.errors);
  }
  case Command::Reload:
    return signalMaster(*options, MasterAction::Reload);
  case Command::Flush:
    return signalMaster(*options, MasterAction::Flush);
  case Command::Stop:
    return signalMaster(*options, MasterAction::Stop);
  case Command::QueueList:
  case Command::QueueStat:
  case Command::QueueShow:
  case Command::QueueDelete:
  case Command::QueueEmpty:
  case Command::QueueUnstick:
    return runQueueCommand(*options, [&] { return findMaster(*options); });
  case Command::Worker: {
    upesi::worker::WorkerArgs args;
    if (!upesi::worker::workerArgsFromEnvironment(args)) {
      fmt::print(stderr, "upesi: --worker is started by the master, not by hand\n");
      return 2;
    }
    return upesi::worker::serveWorker(options->install_dir, args);
  }
  case Command::Run: {
    auto report = checkInstall(options->install_dir);
    printWarnings(report);
    if (!report.errors.empty()) {
      return printErrors(report.errors);
    }
    return runServer(options->install_dir);
  }
  }
  return 2;
}
