// Logger: one per process. Formats a record (default, logfmt or json, as Haraka's log.ini
// names them) and writes it with one write(2), so lines from several workers sharing stderr
// do not interleave. Every line carries the pid and, where they exist, the connection or
// transaction uuid and the plugin name.
//
// Threading: configure from the main thread; log() may be called from any thread.
#pragma once

#include "common/log/log_level.hpp"

#include <fmt/format.h>

#include <atomic>
#include <mutex>
#include <string>
#include <string_view>

namespace upesi::log {

enum class Format { Default, Logfmt, Json };

struct Context {
  std::string_view uuid;   // connection, transaction or queue item uuid; empty if none
  std::string_view source; // plugin name, or "core" when empty
};

struct Settings {
  Level level = Level::Info;
  bool timestamps = false;
  Format format = Format::Default;
};

class Logger {
public:
  static Logger& instance();

  void configure(const Settings& settings);
  Settings settings() const;

  bool enabled(Level level) const {
    return static_cast<int>(level) <= level_.load(std::memory_order_relaxed);
  }

  /// Writes to `path` instead of stderr (reopened by reopen(); SIGUSR1). Empty: stderr.
  bool setFile(const std::string& path);
  void reopen();

  void write(Level level, const Context& context, std::string_view message);

  /// Formats one record without writing it (for tests and for the json/logfmt sinks).
  std::string formatRecord(Level level, const Context& context, std::string_view message) const;

private:
  Logger() = default;
  std::atomic<int> level_{static_cast<int>(Level::Info)};
  std::atomic<bool> timestamps_{false};
  std::atomic<int> format_{static_cast<int>(Format::Default)};
  std::mutex file_mutex_;
  std::string file_path_;
  int fd_ = 2;
};

template <typename... Args>
void log(Level level, const Context& context, fmt::format_string<Args...> format, Args&&... args) {
  auto& logger = Logger::instance();
  if (!logger.enabled(level)) {
    return;
  }
  logger.write(level, context, fmt::format(format, std::forward<Args>(args)...));
}

#define UPESI_LOG_HELPER(Name, LevelValue)                                                         \
  template <typename... Args>                                                                      \
  void Name(const Context& context, fmt::format_string<Args...> format, Args&&... args) {          \
    log(LevelValue, context, format, std::forward<Args>(args)...);                                 \
  }
UPESI_LOG_HELPER(emerg, Level::Emerg)
UPESI_LOG_HELPER(alert, Level::Alert)
UPESI_LOG_HELPER(crit, Level::Crit)
UPESI_LOG_HELPER(error, Level::Error)
UPESI_LOG_HELPER(warn, Level::Warn)
UPESI_LOG_HELPER(notice, Level::Notice)
UPESI_LOG_HELPER(info, Level::Info)
UPESI_LOG_HELPER(debug, Level::Debug)
UPESI_LOG_HELPER(protocol, Level::Protocol)
#undef UPESI_LOG_HELPER

} // namespace upesi::log
