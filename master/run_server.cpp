#include "master/run_server.hpp"

#include "common/config/config.hpp"
#include "common/config/smtp_config.hpp"
#include "common/log/logger.hpp"
#include "common/util/paths.hpp"
#include "master/master_process.hpp"
#include "worker/server/single_process.hpp"

namespace upesi::master {

int runServer(const std::filesystem::path& install_dir) {
  config::Config config(install_dir / "config", defaultsDir());
  auto smtp = config::readSmtpConfig(config);
  if (!smtp) {
    log::crit({}, "{}", smtp.error());
    return 1;
  }
  if (smtp->nodes == 0) {
    return worker::serveSingleProcess(install_dir);
  }
  return runMaster(install_dir);
}

} // namespace upesi::master
