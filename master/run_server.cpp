#include "master/run_server.hpp"

#include "common/config/config.hpp"
#include "common/config/smtp_config.hpp"
#include "common/log/logger.hpp"
#include "common/util/paths.hpp"
#include "worker/server/single_process.hpp"

namespace upesi::master {

int runServer(const std::filesystem::path& install_dir) {
  config::Config config(install_dir / "config", defaultsDir());
  auto smtp = config::readSmtpConfig(config);
  if (!smtp) {
    log::crit({}, "{}", smtp.error());
    return 1;
  }
  if (smtp->nodes != 0) {
    // XXX: the master/worker split is the next step; until then every setting of nodes serves
    // in this one process, so an install written for workers still runs.
    log::warn({}, "nodes={}: worker processes are not implemented yet; serving in one process",
              smtp->nodes);
  }
  return worker::serveSingleProcess(install_dir);
}

} // namespace upesi::master
