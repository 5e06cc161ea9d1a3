#include "plugins/support/message_file.hpp"

#include "common/util/durable_fs.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace upesi::plugins {

bool writeMessageFile(Transaction& txn, std::string_view prefix, const std::filesystem::path& tmp,
                      const std::filesystem::path& final, mode_t mode, std::string& error) {
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    error = fmt::format("create {}: {}", tmp.string(), std::strerror(errno));
    return false;
  }
  bool ok = durable::writeAll(fd, prefix);
  int write_errno = ok ? 0 : errno;
  if (ok) {
    MessageWriteOptions options;
    options.dot_stuffed = false;
    options.crlf = false; // files on disk use the local line end, as Haraka writes them
    ok = txn.writeMessage(
        [&](std::string_view chunk) {
          if (!durable::writeAll(fd, chunk)) {
            write_errno = errno;
            return false;
          }
          return true;
        },
        options);
  }
  if (ok && ::fsync(fd) != 0) {
    ok = false;
    write_errno = errno;
  }
  if (::close(fd) != 0 && ok) {
    ok = false;
    write_errno = errno;
  }
  if (ok && ::rename(tmp.c_str(), final.c_str()) != 0) {
    ok = false;
    write_errno = errno;
  }
  if (!ok) {
    error = write_errno != 0 ? fmt::format("write {}: {}", tmp.string(), std::strerror(write_errno))
                             : fmt::format("reading the message for {} failed", tmp.string());
    ::unlink(tmp.c_str());
  }
  return ok;
}

} // namespace upesi::plugins
