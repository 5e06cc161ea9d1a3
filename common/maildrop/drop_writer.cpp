#include "common/maildrop/drop_writer.hpp"

#include "common/util/text.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

namespace upesi::maildrop {
namespace {

std::string randomHex() {
  unsigned char bytes[8] = {};
  if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
    const auto now = static_cast<unsigned long long>(std::time(nullptr)) ^
                     (static_cast<unsigned long long>(::getpid()) << 32);
    std::memcpy(bytes, &now, sizeof bytes);
  }
  return text::hexLower(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

bool writeAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

} // namespace

Result<std::string> writeDropFile(const std::filesystem::path& dir, std::string_view envelope,
                                  std::string_view message) {
  const std::string id = randomHex();
  const auto temporary = dir / fmt::format("t.{}.{}", ::getpid(), id);
  const std::string name = fmt::format("d.{}.{}.{}", std::time(nullptr), ::getpid(), id);
  const int fd =
      ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return Error{fmt::format("cannot create a file in {}: {}", dir.string(), std::strerror(errno))};
  }
  // Readable by the server's user whatever the submitter's umask: the directory alone keeps
  // other users out.
  bool ok = ::fchmod(fd, 0644) == 0 && writeAll(fd, envelope) && writeAll(fd, message) &&
            ::fsync(fd) == 0;
  const int saved = errno;
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(temporary.c_str(), (dir / name).c_str()) != 0) {
    const int why = ok ? errno : saved;
    ::unlink(temporary.c_str());
    return Error{fmt::format("cannot write {}: {}", temporary.string(), std::strerror(why))};
  }
  // The rename on disk too, where the directory may be read (not through the set-group-id
  // program's write-only access, as with Postfix's maildrop: the file's own fsync is done).
  if (const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return name;
}

} // namespace upesi::maildrop
