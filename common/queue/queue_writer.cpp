#include "common/queue/queue_writer.hpp"

#include "common/queue/directory_sync.hpp"
#include "common/queue/queue_file_name.hpp"
#include "common/util/process.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <limits>
#include <string_view>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace upesi::queue {

namespace {

constexpr mode_t QueueFileMode = 0640;

std::string joinPath(const std::string& dir, std::string_view name) {
  std::string path = dir;
  if (!path.empty() && path.back() != '/') {
    path += '/';
  }
  path += name;
  return path;
}

Error systemError(std::string_view what, const std::string& path, int error) {
  return Error{fmt::format("{} {}: {}", what, path, std::strerror(error))};
}

Result<std::monostate> writeAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t wrote = ::write(fd, bytes.data(), bytes.size());
    if (wrote < 0) {
      if (errno == EINTR) {
        continue;
      }
      return systemError("write", path, errno);
    }
    bytes.remove_prefix(static_cast<std::size_t>(wrote));
  }
  return std::monostate{};
}

// Writes the whole file into fd; returns its size.
Result<std::uint64_t> writeContents(int fd, const std::string& path, const Todo& todo,
                                    const MessageWriter& message) {
  auto header = encodeHeader(todo);
  if (!header) {
    return Error{header.error()};
  }
  std::uint64_t size = header->size();
  if (auto wrote = writeAll(fd, *header, path); !wrote) {
    return Error{wrote.error()};
  }
  if (message) {
    // Small chunks are gathered so a message of many short lines costs few system calls.
    constexpr std::size_t BufferBytes = 64 * 1024;
    std::string buffer;
    buffer.reserve(BufferBytes);
    Result<std::monostate> sink_error = std::monostate{};
    const ByteSink sink = [&](std::string_view chunk) -> Result<std::monostate> {
      size += chunk.size();
      if (buffer.size() + chunk.size() > BufferBytes) {
        if (auto flushed = writeAll(fd, buffer, path); !flushed) {
          sink_error = flushed;
          return flushed;
        }
        buffer.clear();
      }
      if (chunk.size() >= BufferBytes) {
        auto wrote = writeAll(fd, chunk, path);
        if (!wrote) {
          sink_error = wrote;
        }
        return wrote;
      }
      buffer.append(chunk);
      return std::monostate{};
    };
    auto written = message(sink);
    if (!sink_error) {
      return Error{sink_error.error()};
    }
    if (!written) {
      return Error{fmt::format("writing the message into {}: {}", path, written.error())};
    }
    if (auto flushed = writeAll(fd, buffer, path); !flushed) {
      return Error{flushed.error()};
    }
  }
  if (::fsync(fd) != 0) {
    return systemError("fsync", path, errno);
  }
  return size;
}

} // namespace

namespace {

// "__tmp__.<name>" written, fsynced and closed, with a second descriptor holding flock on it
// (the lock outlives close() of the written descriptor) until this is destroyed.
struct TempFile {
  std::string path;
  int lock_fd = -1;
  TempFile() = default;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (lock_fd >= 0) {
      ::close(lock_fd);
    }
  }
};

// Whether `path` still names the file open as `fd` (it was not removed, nor replaced).
bool namesOpenFile(int fd, const std::string& path) {
  struct stat held {};
  struct stat named {};
  return ::fstat(fd, &held) == 0 && held.st_nlink > 0 && ::stat(path.c_str(), &named) == 0 &&
         named.st_ino == held.st_ino && named.st_dev == held.st_dev;
}

// A start-up clean-up (deleteTempFiles) of another process can take and remove a temporary
// file between its creation and our lock; so many times the name is made again.
constexpr int MaxCreateAttempts = 8;

// Writes `temp` for `name`; returns the file's size. On failure nothing is left on disk.
Result<std::uint64_t> writeTempFile(const std::string& queue_dir, const std::string& name,
                                    const Todo& todo, const MessageWriter& message,
                                    TempFile& temp) {
  if (name.empty() || name.find('/') != std::string::npos) {
    return Error{fmt::format("bad queue file name {:?}", name)};
  }
  temp.path = joinPath(queue_dir, std::string(TempPrefix) + name);
  int fd = -1;
  for (int attempt = 1;; ++attempt) {
    fd = ::open(temp.path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, QueueFileMode);
    if (fd < 0) {
      return systemError("open", temp.path, errno);
    }
    // Locked as a delivery locks it until it is durable under its final name or gone: a queue
    // scan that finds it between the rename and a failed directory sync must not deliver a
    // message whose client is told 4xx. The lock waits: a clean-up that took it first holds it
    // only while it removes the file.
    temp.lock_fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    int locked = -1;
    if (temp.lock_fd >= 0) {
      while ((locked = ::flock(temp.lock_fd, LOCK_EX)) != 0 && errno == EINTR) {
      }
    }
    if (locked != 0) {
      const int error = errno;
      ::close(fd);
      ::unlink(temp.path.c_str());
      return systemError("flock", temp.path, error);
    }
    if (namesOpenFile(fd, temp.path)) {
      break;
    }
    // Removed under us by a clean-up: the name is free again (names are unique, no other
    // writer makes it), and what we hold is nobody's file.
    ::close(fd);
    ::close(temp.lock_fd);
    temp.lock_fd = -1;
    if (attempt == MaxCreateAttempts) {
      return Error{fmt::format("create {}: removed by another process {} times", temp.path,
                               MaxCreateAttempts)};
    }
  }
  auto size = writeContents(fd, temp.path, todo, message);
  // close() can report a write error that fsync did not (NFS): check it.
  const bool closed = ::close(fd) == 0;
  const int close_errno = errno;
  if (size && !closed) {
    size = systemError("close", temp.path, close_errno);
  }
  if (!size) {
    ::unlink(temp.path.c_str());
  }
  return size;
}

} // namespace

Result<std::uint64_t> writeQueueFile(const std::string& queue_dir, const std::string& name,
                                     const Todo& todo, const MessageWriter& message) {
  TempFile temp;
  auto size = writeTempFile(queue_dir, name, todo, message, temp);
  if (!size) {
    return size;
  }
  const std::string final_path = joinPath(queue_dir, name);
  if (::rename(temp.path.c_str(), final_path.c_str()) != 0) {
    const int error = errno;
    ::unlink(temp.path.c_str());
    return systemError("rename", temp.path, error);
  }
  if (auto synced = syncDirectoryShared(queue_dir); !synced) {
    // The file is complete but its name may not survive a crash: undo, so that the caller's
    // failure (4xx) and the disk agree.
    ::unlink(final_path.c_str());
    return Error{synced.error()};
  }
  return size;
}

Result<Rewritten> rewriteQueueFile(const std::string& queue_dir, const std::string& name,
                                   const std::string& next, const Todo& todo,
                                   const MessageWriter& message) {
  TempFile temp;
  if (auto size = writeTempFile(queue_dir, next, todo, message, temp); !size) {
    return Error{size.error()};
  }
  const std::string path = joinPath(queue_dir, name);
  if (::rename(temp.path.c_str(), path.c_str()) != 0) {
    const int error = errno;
    ::unlink(temp.path.c_str());
    return systemError("rename", temp.path, error);
  }
  // From here on the original is gone: whatever fails, the new file is what the queue holds.
  Rewritten done{next, {}};
  const std::string next_path = joinPath(queue_dir, next);
  if (::rename(path.c_str(), next_path.c_str()) != 0) {
    done.name = name;
    done.warning = fmt::format("rename {} to {}: {}", path, next_path, std::strerror(errno));
  }
  if (auto synced = syncDirectoryShared(queue_dir); !synced) {
    done.warning += (done.warning.empty() ? "" : "; ") + synced.error();
  }
  return done;
}

Result<std::monostate> renameQueueFile(const std::string& queue_dir, const std::string& from,
                                       const std::string& to) {
  const std::string from_path = joinPath(queue_dir, from);
  const std::string to_path = joinPath(queue_dir, to);
  if (::rename(from_path.c_str(), to_path.c_str()) != 0) {
    const int error = errno;
    return Error{fmt::format("rename {} to {}: {}", from_path, to_path, std::strerror(error))};
  }
  return syncDirectoryShared(queue_dir);
}

Result<std::monostate> removeQueueFile(const std::string& queue_dir, const std::string& name,
                                       RemoveSync sync) {
  const std::string path = joinPath(queue_dir, name);
  if (::unlink(path.c_str()) != 0) {
    return systemError("unlink", path, errno);
  }
  if (sync == RemoveSync::None) {
    return std::monostate{};
  }
  return syncDirectoryShared(queue_dir);
}

Result<std::monostate> moveToError(const std::string& queue_dir, const std::string& name) {
  return renameQueueFile(queue_dir, name, std::string(ErrorPrefix) + name);
}

namespace {

// Whether the process that wrote the queue file name `name` (its pid field) still runs: then a
// temporary file of that name may be one it is creating now, not yet locked. A pid reused by
// another process keeps a dead writer's file until a later start; a zombie writes nothing (a
// worker killed with its master stays one until init reaps it); our own pid is a former
// process's (a clean-up runs before this process writes anything).
bool writerMayBeAlive(std::string_view name) {
  auto parsed = QueueFileName::parse(name, 0);
  if (!parsed || parsed->legacy || parsed->pid <= 0 ||
      parsed->pid > std::numeric_limits<pid_t>::max()) {
    return false;
  }
  const auto pid = static_cast<pid_t>(parsed->pid);
  if (pid == ::getpid()) {
    return false;
  }
  return processRuns(pid);
}

} // namespace

Result<std::vector<std::string>> deleteTempFiles(const std::string& queue_dir) {
  DIR* dir = ::opendir(queue_dir.c_str());
  if (dir == nullptr) {
    return systemError("opendir", queue_dir, errno);
  }
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view entry_name(entry->d_name);
    if (entry_name.starts_with(TempPrefix)) {
      names.emplace_back(entry_name);
    }
    errno = 0;
  }
  const int read_error = errno;
  ::closedir(dir);
  if (read_error != 0) {
    return systemError("readdir", queue_dir, read_error);
  }
  std::vector<std::string> removed;
  for (const auto& name : names) {
    if (writerMayBeAlive(std::string_view(name).substr(TempPrefix.size()))) {
      continue;
    }
    const std::string path = joinPath(queue_dir, name);
    // A writer holds flock on its temporary file from just after creating it until it is
    // renamed or removed: one that is locked is being written now. Removed under our lock,
    // and only if the name is still the file we locked (another clean-up may have removed that
    // one, and its writer made the name again).
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
      const int error = errno;
      // Not a file we can open: no writer of ours made it (a symlink, another user's file).
      // Anything else may be a writer's file that we failed to open for want of resources.
      if (error != ELOOP && error != EACCES && error != ENXIO) {
        continue;
      }
    } else if (::flock(fd, LOCK_EX | LOCK_NB) != 0 || !namesOpenFile(fd, path)) {
      ::close(fd);
      continue;
    }
    const bool unlinked = ::unlink(path.c_str()) == 0;
    const int error = errno;
    if (fd >= 0) {
      ::close(fd);
    }
    if (!unlinked) {
      if (error == ENOENT) {
        continue;
      }
      return systemError("unlink", path, error);
    }
    removed.push_back(name);
  }
  if (!removed.empty()) {
    if (auto synced = syncDirectoryShared(queue_dir); !synced) {
      return Error{synced.error()};
    }
  }
  return removed;
}

QueueFileLock::~QueueFileLock() {
  release();
}

QueueFileLock::QueueFileLock(QueueFileLock&& other) noexcept
    : fd_(other.fd_), path_(std::move(other.path_)) {
  other.fd_ = -1;
}

QueueFileLock& QueueFileLock::operator=(QueueFileLock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    other.fd_ = -1;
  }
  return *this;
}

void QueueFileLock::release() noexcept {
  if (fd_ >= 0) {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
    fd_ = -1;
  }
}

std::variant<QueueFileLock, ClaimError> claimQueueFile(const std::string& queue_dir,
                                                       const std::string& name) {
  const std::string path = joinPath(queue_dir, name);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT) {
      return ClaimError{ClaimFailure::Gone, fmt::format("{}: gone", path)};
    }
    return ClaimError{ClaimFailure::Error, systemError("open", path, error).message};
  }
  QueueFileLock lock(fd, path);
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    if (error == EINTR) {
      continue;
    }
    lock = QueueFileLock(); // closes without unlocking anything of ours
    if (error == EWOULDBLOCK) {
      return ClaimError{ClaimFailure::Held, fmt::format("{}: held by another process", path)};
    }
    return ClaimError{ClaimFailure::Error, systemError("flock", path, error).message};
  }
  // The owner may have removed or renamed the file between our open and our lock (it
  // finished with it): then what we hold is no longer the queue entry of that name.
  struct stat held {};
  struct stat named {};
  if (::fstat(fd, &held) != 0) {
    return ClaimError{ClaimFailure::Error, systemError("fstat", path, errno).message};
  }
  if (held.st_nlink == 0 || ::stat(path.c_str(), &named) != 0 || named.st_ino != held.st_ino ||
      named.st_dev != held.st_dev) {
    return ClaimError{ClaimFailure::Gone,
                      fmt::format("{}: removed or renamed while claiming", path)};
  }
  return lock;
}

} // namespace upesi::queue
