#include "master/run_server.hpp"

#include "common/config/config.hpp"
#include "common/config/smtp_config.hpp"
#include "common/log/log_config.hpp"
#include "common/log/logger.hpp"
#include "common/util/paths.hpp"

namespace upesi::master {

int runServer(const std::filesystem::path& install_dir) {
  config::Config config(install_dir / "config", defaultsDir());
  if (auto logc = log::applyLogConfig(config); !logc) {
    log::crit({}, "{}", logc.error());
    return 1;
  }
  auto smtp = config::readSmtpConfig(config);
  if (!smtp) {
    log::crit({}, "{}", smtp.error());
    return 1;
  }
  // The SMTP engine is the next step; until it lands a run stops after the config check.
  log::notice({}, "configuration in {} is valid (listen={}); the SMTP server is not built yet",
              install_dir.string(), smtp->listen.front().toString());
  return 0;
}

} // namespace upesi::master
