#include "master/cli.hpp"

#include <fmt/format.h>

#include <string_view>

namespace upesi::master {
namespace {

// Long options, and the short ones that Haraka's CLI uses.
struct OptionSpec {
  std::string_view short_name;
  std::string_view long_name;
  bool takes_value;
  Command command;             // Run for -c, which only sets the directory
  bool value_optional = false; // the value may be left out (--qunstick [DOMAIN])
};

constexpr OptionSpec Options[] = {
    {"-c", "--config", true, Command::Run},
    {"-i", "--install", true, Command::Install},
    {"-l", "--list", false, Command::List},
    {"-h", "", true, Command::PluginHelp},
    {"-o", "--order", false, Command::Order},
    {"", "--check", false, Command::Check},
    {"", "--reload", false, Command::Reload},
    {"", "--flush", false, Command::Flush},
    {"", "--stop", false, Command::Stop},
    {"", "--worker", false, Command::Worker},
    {"-v", "--version", false, Command::Version},
    {"", "--help", false, Command::Usage},
    {"", "--qlist", false, Command::QueueList},
    {"", "--qstat", false, Command::QueueStat},
    {"", "--qshow", true, Command::QueueShow},
    {"", "--qdelete", true, Command::QueueDelete},
    {"", "--qempty", false, Command::QueueEmpty},
    {"", "--qunstick", true, Command::QueueUnstick, true},
};

bool isQueueCommand(Command command) {
  return command == Command::QueueList || command == Command::QueueStat ||
         command == Command::QueueShow || command == Command::QueueDelete ||
         command == Command::QueueEmpty || command == Command::QueueUnstick;
}

const OptionSpec* findOption(std::string_view arg, std::string_view& inline_value) {
  inline_value = {};
  for (const auto& spec : Options) {
    if (!spec.short_name.empty() && arg == spec.short_name) {
      return &spec;
    }
    if (!spec.long_name.empty()) {
      if (arg == spec.long_name) {
        return &spec;
      }
      if (spec.takes_value && arg.starts_with(spec.long_name) &&
          arg.size() > spec.long_name.size() && arg[spec.long_name.size()] == '=') {
        inline_value = arg.substr(spec.long_name.size() + 1);
        return &spec;
      }
    }
  }
  return nullptr;
}

} // namespace

Result<CliOptions> parseCommandLine(int argc, char** argv) {
  CliOptions out;
  bool have_action = false;
  bool have_dir = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--json") { // a modifier of --qlist and --qstat, not an action
      out.json = true;
      continue;
    }
    std::string_view value;
    const OptionSpec* spec = findOption(arg, value);
    if (spec == nullptr) {
      return Error{fmt::format("unknown option \"{}\" (try --help)", arg)};
    }
    if (spec->takes_value && value.empty() && spec->value_optional) {
      if (i + 1 < argc && argv[i + 1][0] != '-' && argv[i + 1][0] != '\0') {
        value = argv[++i];
      }
    } else if (spec->takes_value && value.empty()) {
      if (i + 1 >= argc || std::string_view(argv[i + 1]).empty()) {
        return Error{fmt::format("{} needs a value (try --help)", arg)};
      }
      value = argv[++i];
    }
    if (spec->command == Command::Run) {
      if (have_dir) {
        return Error{"-c given twice"};
      }
      out.install_dir = std::string(value);
      have_dir = true;
      continue;
    }
    if (have_action) {
      return Error{fmt::format("{} cannot be combined with another action (try --help)", arg)};
    }
    have_action = true;
    out.command = spec->command;
    if (spec->command == Command::Install) {
      if (have_dir) {
        return Error{"-i takes the directory itself; do not combine it with -c"};
      }
      out.install_dir = std::string(value);
      have_dir = true;
    } else if (spec->command == Command::PluginHelp) {
      out.plugin_name = std::string(value);
    } else if (isQueueCommand(spec->command)) {
      out.queue_arg = std::string(value);
    }
  }
  if (!have_action) {
    if (!have_dir) {
      return Error{"nothing to do: give -c DIR to run, or -i DIR to create one (try --help)"};
    }
    out.command = Command::Run;
  }
  bool needs_dir = out.command == Command::Order || out.command == Command::Check ||
                   out.command == Command::Reload || out.command == Command::Flush ||
                   out.command == Command::Stop || out.command == Command::Worker ||
                   isQueueCommand(out.command);
  if (needs_dir && !have_dir) {
    return Error{"this action needs -c DIR (try --help)"};
  }
  if (out.json && out.command != Command::QueueList && out.command != Command::QueueStat) {
    return Error{"--json goes with --qlist or --qstat (try --help)"};
  }
  return out;
}

std::string usageText() {
  return R"(usage: upesi -c DIR            run the server from the install directory DIR
       upesi -i DIR            create an install directory (config/, plugins/, queue/)
       upesi -c DIR --check    validate the config and every enabled plugin's config
       upesi [-c DIR] -l       list the plugins (built-in and DIR/plugins/*.so)
       upesi [-c DIR] -h NAME  show a plugin's documentation
       upesi -c DIR -o         show the order in which plugins run on each hook
       upesi -c DIR --reload   reload the running server gracefully (as SIGUSR2)
       upesi -c DIR --flush    retry the deferred outbound mail now (as SIGHUP)
       upesi -c DIR --stop     stop the running server gracefully (as SIGTERM)
       upesi -c DIR --qlist [--json]  list the outbound queue, one message a line
       upesi -c DIR --qstat [--json]  queue counts: due, deferred, unreadable, per domain
       upesi -c DIR --qshow ID        show a queued message (header and text)
       upesi -c DIR --qdelete ID      delete a queued message (not one being delivered)
       upesi -c DIR --qempty          delete every queued message not being delivered
       upesi -c DIR --qunstick [DOMAIN]  make deferred mail (DOMAIN's) due now
       upesi -v | --version    print the version
       upesi --help            print this text

An install directory holds config/ (Haraka's layout: smtp.ini, log.ini, plugins, me,
host_list, ...), plugins/ (shared-object plugins), queue/, and what outbound keeps:
mta-sts/ and tls-rpt/ (MTA-STS policies, TLS report counts: smtp.ini state_dir moves them)
and maildrop/ (what sendmail leaves; smtp.ini maildrop_dir). Files an install
does not have are read from the shipped defaults. A queue ID is a file name, the ID
--qlist prints, or its uid (the part before the dot).
)";
}

} // namespace upesi::master
