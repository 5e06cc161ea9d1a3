// Durable queue file operations. Every function blocks (open, write, fsync, rename): call them
// from libuv's thread pool, never on a loop thread.
//
// Writing follows Postfix and Haraka: create "__tmp__.<name>" with O_EXCL, write, fsync, check
// close(), rename to "<name>", fsync the directory (Haraka skips that last step; without it a
// crash can lose the rename after we said 250). On any failure the temporary file is unlinked
// and the Error carries the system's text. Every directory fsync here is shared with the other
// threads that need one at the same time (directory_sync.hpp).
//
// Ownership: a worker owns a queue file while it holds flock(LOCK_EX) on it (claimQueueFile).
// flock locks belong to the open file description, so they vanish when the owner dies, and
// (unlike fcntl locks) closing another descriptor of the same file in the same process does
// not drop them.
#pragma once

#include "common/queue/queue_file.hpp"
#include "common/queue/todo.hpp"
#include "common/util/result.hpp"

#include <string>
#include <variant>
#include <vector>

namespace upesi::queue {

/// Writes `<queue_dir>/<name>` durably: 4-byte length + header of `todo`, then what
/// `message` writes (already dot-stuffed, CRLF). Returns the number of bytes in the file. The
/// name must not exist yet as a temporary file (O_EXCL); the final name is replaced if it
/// exists (rename).
Result<std::uint64_t> writeQueueFile(const std::string& queue_dir, const std::string& name,
                                     const Todo& todo, const MessageWriter& message);

/// What rewriteQueueFile did once the original was replaced.
struct Rewritten {
  std::string name;    ///< where the new file is: `next`, or `name` if renaming it there failed
  std::string warning; ///< a failure after the original was replaced (the directory sync): the
                       ///< new file is in place, but a crash may bring the original back
};

/// Replaces the file `name` (the caller holds its lock) with one of `todo` and what `message`
/// writes, named `next`: writes "__tmp__.<next>" durably, renames it over `name`, renames that
/// to `next`, fsyncs the directory. So the queue never holds both files, nor neither: a crash
/// between the renames leaves the new file under the old name. The new file is locked until it
/// has its final name. An Error means the original is as it was.
Result<Rewritten> rewriteQueueFile(const std::string& queue_dir, const std::string& name,
                                   const std::string& next, const Todo& todo,
                                   const MessageWriter& message);

/// rename(from, to) inside queue_dir, then fsync the directory.
Result<std::monostate> renameQueueFile(const std::string& queue_dir, const std::string& from,
                                       const std::string& to);
/// Whether removing a queue file waits for the directory to be on disk.
enum class RemoveSync {
  Directory, ///< fsync the directory: the file cannot come back after a crash
  None,      ///< a crash may bring it back, to be sent again: Postfix's trade for delivered mail
};

/// unlink(name) inside queue_dir, then (RemoveSync::Directory) fsync the directory. A file
/// already gone is an error (ENOENT) so that a caller notices a double delete.
Result<std::monostate> removeQueueFile(const std::string& queue_dir, const std::string& name,
                                       RemoveSync sync = RemoveSync::Directory);
/// Renames `name` to "error.<name>" (the file could not be read; it is left for a human).
Result<std::monostate> moveToError(const std::string& queue_dir, const std::string& name);
/// Clean-up at a process start, before the process writes any queue file: unlinks every
/// "__tmp__.*" entry of queue_dir that a crash left half written and fsyncs the directory.
/// Returns the names removed. A writer locks its file just after creating it; one whose name's
/// pid runs (another worker, of this generation or the one a reload replaces) is left alone
/// even unlocked, and a file is removed only while we hold its lock. A writer whose file was
/// removed before it locked it makes it again.
Result<std::vector<std::string>> deleteTempFiles(const std::string& queue_dir);

/// An open queue file with flock(LOCK_EX) held. Moving transfers the lock; destruction
/// unlocks and closes.
class QueueFileLock {
public:
  QueueFileLock() = default;
  QueueFileLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~QueueFileLock();
  QueueFileLock(QueueFileLock&& other) noexcept;
  QueueFileLock& operator=(QueueFileLock&& other) noexcept;
  QueueFileLock(const QueueFileLock&) = delete;
  QueueFileLock& operator=(const QueueFileLock&) = delete;

  bool held() const { return fd_ >= 0; }
  /// The open descriptor (read-only), e.g. for readHeader(fd) and reading the message.
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  /// Unlocks and closes now.
  void release() noexcept;

private:
  int fd_ = -1;
  std::string path_;
};

enum class ClaimFailure {
  Held,  ///< another process (or another descriptor in this one) holds the lock
  Gone,  ///< the file no longer exists (delivered, renamed or removed by its owner)
  Error, ///< any other failure
};

struct ClaimError {
  ClaimFailure kind = ClaimFailure::Error;
  std::string message;
};

/// Opens `<queue_dir>/<name>` read-only and takes flock(LOCK_EX | LOCK_NB) on it. "Held by
/// another process" when the lock is taken. A file renamed or removed between the directory
/// listing and the open is Gone.
std::variant<QueueFileLock, ClaimError> claimQueueFile(const std::string& queue_dir,
                                                       const std::string& name);

} // namespace upesi::queue
