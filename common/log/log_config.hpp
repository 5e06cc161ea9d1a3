// Reads config/log.ini: [main] level, timestamps, format (default | logfmt | json), file; and
// Haraka's flat files loglevel and log_timestamps where log.ini lacks those keys. A new
// key is also listed in common/config/known_keys.cpp (--check).
#pragma once

#include "common/config/config.hpp"
#include "common/log/logger.hpp"
#include "common/util/result.hpp"

namespace upesi::log {

struct LogConfig {
  Settings settings;
  std::string file; // empty: stderr
};

Result<LogConfig> readLogConfig(config::Config& config);

/// Reads the log config and applies it; on error the logger is left as it was.
Result<LogConfig> applyLogConfig(config::Config& config);

} // namespace upesi::log
