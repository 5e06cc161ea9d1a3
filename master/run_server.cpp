#include "master/run_server.hpp"

#include "common/config/config.hpp"
#include "common/config/http_config.hpp"
#include "common/config/smtp_config.hpp"
#include "common/log/log_config.hpp"
#include "common/log/logger.hpp"
#include "common/metrics/metrics.hpp"
#include "common/util/paths.hpp"
#include "master/listeners.hpp"
#include "master/master_process.hpp"
#include "master/pid_file.hpp"
#include "master/privileges.hpp"
#include "worker/server/single_process.hpp"

namespace upesi::master {
namespace {

// nodes=0: as the master does, bind and write the pid file as root, then drop privileges
// before any plugin is loaded.
int runSingleProcess(const std::filesystem::path& install_dir, config::Config& config,
                     const config::SmtpConfig& smtp) {
  if (auto logc = log::applyLogConfig(config); !logc) {
    log::crit({}, "{}", logc.error());
    return 1;
  }
  auto listeners = bindServerListeners(config, smtp);
  if (!listeners) {
    log::crit({}, "{}", listeners.error());
    return 1;
  }
  // The pid file lets --flush, --stop and --qunstick find a single-process server too.
  PidFile pid_file(pidFilePath(smtp.pid_file, install_dir));
  if (auto written = pid_file.write(); !written) {
    log::crit({}, "{}", written.error());
    return 1;
  }
  if (auto dropped = dropPrivileges(smtp.user, smtp.group); !dropped) {
    log::crit({}, "{}", dropped.error());
    return 1;
  }
  if (!listeners->http_addresses.empty()) {
    auto http = config::readHttpConfig(config);
    std::string error;
    if (http && http->metrics) {
      if (auto own = metrics::Metrics::standalone(error)) {
        metrics::installMetrics(std::move(*own));
      } else {
        log::error({}, "metrics are off: {}", error);
      }
    }
  }
  return worker::serveSingleProcess(install_dir, listeners->smtp, listeners->http);
}

} // namespace

int runServer(const std::filesystem::path& install_dir) {
  config::Config config(install_dir / "config", defaultsDir());
  auto smtp = config::readSmtpConfig(config);
  if (!smtp) {
    log::crit({}, "{}", smtp.error());
    return 1;
  }
  if (smtp->nodes == 0) {
    return runSingleProcess(install_dir, config, *smtp);
  }
  return runMaster(install_dir);
}

} // namespace upesi::master
