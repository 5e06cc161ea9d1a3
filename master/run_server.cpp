#include "master/run_server.hpp"

#include "common/config/config.hpp"
#include "common/config/smtp_config.hpp"
#include "common/log/logger.hpp"
#include "common/util/paths.hpp"
#include "master/master_process.hpp"
#include "master/pid_file.hpp"
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
    // The pid file lets --flush, --stop and --qunstick find a single-process server too.
    PidFile pid_file(smtp->pid_file.empty() ? install_dir / "upesi.pid"
                                            : std::filesystem::path(smtp->pid_file));
    if (auto written = pid_file.write(); !written) {
      log::crit({}, "{}", written.error());
      return 1;
    }
    return worker::serveSingleProcess(install_dir);
  }
  return runMaster(install_dir);
}

} // namespace upesi::master
