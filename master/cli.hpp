// The `upesi` command line: what the user asked for, or a one-line error (exit status 2).
#pragma once

#include "common/util/result.hpp"

#include <string>

namespace upesi::master {

enum class Command {
  Run,
  Install,
  List,
  PluginHelp,
  Order,
  Check,
  Version,
  Usage,
  Reload, // signal the running master: SIGUSR2
  Flush,  // SIGHUP
  Stop,   // SIGTERM
  Worker, // internal: a worker the master started
  QueueList,
  QueueStat,
  QueueShow,
  QueueDelete,
  QueueEmpty,
  QueueUnstick,
};

struct CliOptions {
  Command command = Command::Usage;
  std::string install_dir; // -c DIR, or the DIR of -i
  std::string plugin_name; // -h NAME
  std::string queue_arg;   // the ID of --qshow/--qdelete, the DOMAIN of --qunstick
  bool json = false;       // --json, with --qlist or --qstat
};

Result<CliOptions> parseCommandLine(int argc, char** argv);

/// The text of --help.
std::string usageText();

} // namespace upesi::master
