#include "master/pid_file.hpp"

#include "master/process_identity.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <unistd.h>

namespace upesi::master {

std::filesystem::path pidFilePath(const std::string& configured,
                                  const std::filesystem::path& install_dir) {
  return configured.empty() ? install_dir / "upesi.pid" : std::filesystem::path(configured);
}

Result<pid_t> readLivePid(const std::filesystem::path& path) {
  std::ifstream in(path);
  long pid = 0;
  if (!(in >> pid) || pid <= 0) {
    return Error{fmt::format("{}: no pid file (is the server running?)", path.string())};
  }
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
    return Error{fmt::format("{}: process {} is not running", path.string(), pid)};
  }
  if (auto upesi = checkIsUpesi(static_cast<pid_t>(pid)); !upesi) {
    return Error{fmt::format("{}: {}", path.string(), upesi.error())};
  }
  return static_cast<pid_t>(pid);
}

Result<std::monostate> PidFile::write() {
  if (auto live = readLivePid(path_); live && *live != ::getpid()) {
    return Error{fmt::format("{}: another upesi (pid {}) is running here", path_.string(), *live)};
  }
  // A runtime directory (/run/upesi) may not survive a reboot; the parent must exist.
  std::error_code ec;
  if (path_.has_parent_path() && !std::filesystem::exists(path_.parent_path(), ec)) {
    std::filesystem::create_directory(path_.parent_path(), ec);
  }
  auto tmp = path_;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << ::getpid() << '\n';
    if (!out) {
      return Error{fmt::format("{}: cannot write", tmp.string())};
    }
  }
  std::filesystem::rename(tmp, path_, ec);
  if (ec) {
    return Error{fmt::format("{}: {}", path_.string(), ec.message())};
  }
  written_ = true;
  return std::monostate{};
}

PidFile::~PidFile() {
  if (written_) {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
}

} // namespace upesi::master
