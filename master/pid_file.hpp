// The master's pid file, so that `upesi -c DIR --reload` (and scripts) can find it. Removed on
// a clean exit; a stale one (its process gone) is replaced.
#pragma once

#include "common/util/result.hpp"

#include <filesystem>
#include <string>
#include <sys/types.h>
#include <variant>

namespace upesi::master {

class PidFile {
public:
  explicit PidFile(std::filesystem::path path) : path_(std::move(path)) {}
  ~PidFile();
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;

  /// Fails if another live process holds it.
  Result<std::monostate> write();

private:
  std::filesystem::path path_;
  bool written_ = false;
};

/// smtp.ini pid_file, or <install>/upesi.pid when it is not set.
std::filesystem::path pidFilePath(const std::string& configured,
                                  const std::filesystem::path& install_dir);

/// The pid recorded in `path` if that process is alive and is upesi.
Result<pid_t> readLivePid(const std::filesystem::path& path);

} // namespace upesi::master
