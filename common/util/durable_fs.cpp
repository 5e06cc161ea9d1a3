#include "common/util/durable_fs.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace upesi::durable {

bool syncDirectory(const std::filesystem::path& dir, std::string& error) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    error = fmt::format("open {}: {}", dir.string(), std::strerror(errno));
    return false;
  }
  bool ok = ::fsync(fd) == 0;
  if (!ok) {
    error = fmt::format("fsync {}: {}", dir.string(), std::strerror(errno));
  }
  ::close(fd);
  return ok;
}

bool makeDirectories(const std::filesystem::path& dir, mode_t mode, std::string& error) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      return true;
    }
    error = fmt::format("{} exists and is not a directory", dir.string());
    return false;
  }
  if (dir.has_parent_path() && dir.parent_path() != dir &&
      !makeDirectories(dir.parent_path(), mode, error)) {
    return false;
  }
  if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) {
    error = fmt::format("mkdir {}: {}", dir.string(), std::strerror(errno));
    return false;
  }
  return syncDirectory(dir.parent_path(), error);
}

bool writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

} // namespace upesi::durable
