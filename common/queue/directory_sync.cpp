#include "common/queue/directory_sync.hpp"

#include "common/util/durable_fs.hpp"

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

namespace upesi::queue {

namespace {

// The callers that one fsync answers: those that arrived before it started.
struct Batch {
  bool done = false;
  std::string error;
};

struct Directory {
  bool syncing = false;
  std::shared_ptr<Batch> next = std::make_shared<Batch>();
  std::uint64_t syncs = 0;
};

std::mutex directories_mutex;
std::condition_variable batch_done;
std::map<std::string, Directory> directories;

} // namespace

Result<std::monostate> syncDirectoryShared(const std::string& dir) {
  std::unique_lock lock(directories_mutex);
  Directory& d = directories[dir];
  const std::shared_ptr<Batch> mine = d.next;
  while (!mine->done) {
    if (d.syncing) {
      batch_done.wait(lock); // a sync that may have started before our rename: not ours
      continue;
    }
    // Nobody is syncing, so `mine` is still the open batch: run its sync, for everyone in it.
    d.syncing = true;
    std::shared_ptr<Batch> batch = std::exchange(d.next, std::make_shared<Batch>());
    lock.unlock();
    std::string error;
    const bool synced = durable::syncDirectory(dir, error);
    lock.lock();
    batch->done = true;
    if (!synced) {
      batch->error = error;
    }
    ++d.syncs;
    d.syncing = false;
    batch_done.notify_all();
  }
  if (!mine->error.empty()) {
    return Error{mine->error};
  }
  return std::monostate{};
}

std::uint64_t sharedDirectorySyncs(const std::string& dir) {
  std::lock_guard lock(directories_mutex);
  auto it = directories.find(dir);
  return it == directories.end() ? 0 : it->second.syncs;
}

} // namespace upesi::queue
