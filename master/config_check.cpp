#include "master/config_check.hpp"

#include "common/auth/dkim_key_store.hpp"
#include "common/config/config.hpp"
#include "common/config/haraka_aliases.hpp"
#include "common/config/http_config.hpp"
#include "common/config/smtp_config.hpp"
#include "common/config/unknown_keys.hpp"
#include "common/log/log_config.hpp"
#include "common/log/logger.hpp"
#include "common/plugin/plugin_set.hpp"
#include "common/tls/tls_context.hpp"
#include "common/util/paths.hpp"
#include "master/privileges.hpp"
#include "master/secret_files.hpp"
#include "master/trusted_files.hpp"
#include "worker/server/server_runtime.hpp"

#include <fmt/format.h>

#include <exception>
#include <set>
#include <string>
#include <unistd.h>

namespace upesi::master {
namespace fs = std::filesystem;

namespace {

// The group the server reads its config as, if smtp.ini has it drop privileges.
std::optional<gid_t> serverGroup(const config::SmtpConfig& smtp) {
  if (smtp.user.empty() && smtp.group.empty()) {
    return std::nullopt;
  }
  auto ids = resolveIds(smtp.user, smtp.group);
  return ids ? std::optional<gid_t>(ids->gid) : std::nullopt;
}

// While the check loads plugins, their progress lines ("loaded 2 domains") are noise: only
// warnings and errors get through. The level is restored for the server that may follow.
class QuietLog {
public:
  QuietLog() : saved_(log::Logger::instance().settings()) {
    auto quiet = saved_;
    if (static_cast<int>(quiet.level) > static_cast<int>(log::Level::Warn)) {
      quiet.level = log::Level::Warn;
    }
    log::Logger::instance().configure(quiet);
  }
  ~QuietLog() { log::Logger::instance().configure(saved_); }
  QuietLog(const QuietLog&) = delete;
  QuietLog& operator=(const QuietLog&) = delete;

private:
  log::Settings saved_;
};

// Each message once: the convenience getters report through the callback too.
std::vector<std::string> unique(std::vector<std::string> messages) {
  std::vector<std::string> out;
  std::set<std::string> reported;
  for (auto& m : messages) {
    if (reported.insert(m).second) {
      out.push_back(std::move(m));
    }
  }
  return out;
}

// What the dkim plugin would log about its signing keys (unreadable, wrong type, too short,
// without a selector), each naming its file.
std::vector<std::string> dkimKeyErrors(const fs::path& install_dir, config::Config& config) {
  auto ini = config.get("dkim.ini", config::ConfigType::Ini);
  auto lines = [&config](const std::string& name) {
    auto found = config.get(name, config::ConfigType::Data);
    return found ? *found : nlohmann::json();
  };
  return dkim::KeyStore::loadConfigured(install_dir / "config",
                                        ini ? *ini : nlohmann::json::object(), lines)
      .errors();
}

// Everything start-up reads, read now; `config` reports into `errors` too.
void findErrors(const fs::path& install_dir, config::Config& config,
                std::vector<std::string>& errors) {
  std::error_code ec;

  auto smtp = config::readSmtpConfig(config);
  if (!smtp) {
    errors.push_back(smtp.error());
  }
  if (auto http = config::readHttpConfig(config); !http) {
    errors.push_back(http.error());
  }
  if (auto logc = log::readLogConfig(config); !logc) {
    errors.push_back(logc.error());
  }
  // outbound.ini, and tls.ini's [outbound] with the client certificate it names: each worker
  // reads them at start, and an error there stops it.
  if (auto outbound = worker::outboundSettings(config, install_dir,
                                               smtp ? *smtp : config::SmtpConfig{}, "localhost");
      !outbound) {
    errors.push_back(outbound.error());
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
    return;
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
    if (p.info.name == "dkim") {
      for (auto& error : dkimKeyErrors(install_dir, config)) {
        errors.push_back(std::move(error));
      }
    }
  }
}

} // namespace

CheckReport checkInstall(const fs::path& install_dir) {
  CheckReport report;
  std::error_code ec;
  if (!fs::is_directory(install_dir / "config", ec)) {
    report.errors.push_back(fmt::format(
        "{}: no config/ directory here (create one with upesi -i DIR)", install_dir.string()));
    return report;
  }
  if (::geteuid() == 0) {
    report.errors = checkTrustedFiles(install_dir);
    if (!report.errors.empty()) {
      return report; // reading further would load the plugins in question
    }
  }
  QuietLog quiet;
  config::Config config(install_dir / "config", defaultsDir());
  std::vector<std::string> errors;
  config.setErrorCallback([&](const std::string& e) { errors.push_back(e); });
  findErrors(install_dir, config, errors);
  config.setErrorCallback({});
  report.errors = unique(std::move(errors));
  std::optional<gid_t> server_gid;
  if (auto smtp = config::readSmtpConfig(config)) {
    server_gid = serverGroup(*smtp);
  }
  if (auto aliases = config::readHarakaAliases(config)) {
    report.notices = std::move(aliases->notices);
  }
  report.warnings = config::checkUnknownKeys(config);
  for (auto& w : checkSecretFiles(config, server_gid)) {
    report.warnings.push_back(std::move(w));
  }
  return report;
}

} // namespace upesi::master
