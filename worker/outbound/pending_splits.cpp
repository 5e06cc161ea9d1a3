#include "worker/outbound/pending_splits.hpp"

#include "common/log/logger.hpp"
#include "common/util/thread_pool.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <unistd.h>

namespace upesi::outbound {

Result<queue::Rewritten> writeSplit(const std::string& queue_dir, const Split& split) {
  const int fd = split.lock.fd();
  const std::uint64_t offset = split.message_offset;
  return queue::rewriteQueueFile(
      queue_dir, split.name, split.next_name, split.todo,
      [fd, offset](const queue::ByteSink& sink) -> Result<std::monostate> {
        std::string buf(65536, '\0');
        std::uint64_t at = offset;
        for (;;) {
          const ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(at));
          if (n < 0) {
            if (errno == EINTR) {
              continue;
            }
            return Error{std::strerror(errno)};
          }
          if (n == 0) {
            return std::monostate{};
          }
          if (auto r = sink(std::string_view(buf.data(), static_cast<std::size_t>(n))); !r) {
            return r;
          }
          at += static_cast<std::uint64_t>(n);
        }
      });
}

PendingSplits::PendingSplits(uv_loop_t* loop, std::string queue_dir, Written written)
    : loop_(loop), queue_dir_(std::move(queue_dir)), written_(std::move(written)) {}

PendingSplits::~PendingSplits() {
  *alive_ = false;
  for (const auto& [name, entry] : pending_) {
    log::error({entry->split.todo.uuid, ""},
               "outbound: {} is released with its split unwritten: its delivered recipients "
               "will get the message again",
               name);
  }
}

void PendingSplits::add(Split split, std::int64_t now_ms, std::int64_t retry_ms) {
  auto entry = std::make_shared<Entry>();
  entry->retry_ms = std::max(retry_ms, MinSplitRetryMs);
  entry->next_try_ms = now_ms + entry->retry_ms;
  std::string name = split.name;
  entry->split = std::move(split);
  pending_[name] = std::move(entry);
}

void PendingSplits::retry(std::int64_t now_ms) {
  for (const auto& [name, entry] : pending_) {
    if (!entry->writing && entry->next_try_ms <= now_ms) {
      write(entry, now_ms);
    }
  }
}

void PendingSplits::flush(std::int64_t now_ms) {
  for (const auto& [name, entry] : pending_) {
    entry->split.due_ms = std::min(entry->split.due_ms, now_ms);
    entry->next_try_ms = now_ms;
  }
  retry(now_ms);
}

void PendingSplits::write(const std::shared_ptr<Entry>& entry, std::int64_t now_ms) {
  entry->writing = true;
  auto result = std::make_shared<std::optional<Result<queue::Rewritten>>>();
  std::weak_ptr<bool> alive = alive_;
  runOnThreadPool(
      loop_, [dir = queue_dir_, entry, result] { *result = writeSplit(dir, entry->split); },
      [this, alive, entry, result, now_ms] {
        if (alive.expired()) {
          return;
        }
        entry->writing = false;
        const Split& split = entry->split;
        const Result<queue::Rewritten>& written = **result;
        if (!written) {
          log::error({split.todo.uuid, ""},
                     "outbound: writing the deferred recipients of {} failed again ({}): it stays "
                     "held, next try in {} s",
                     split.name, written.error(), entry->retry_ms / 1000);
          entry->next_try_ms = now_ms + entry->retry_ms;
          return;
        }
        if (!written->warning.empty()) {
          log::error({split.todo.uuid, ""}, "outbound: splitting deferred recipients: {}",
                     written->warning);
        }
        log::notice({split.todo.uuid, ""},
                    "outbound: the deferred recipients of {} are written at last, as {}",
                    split.name, written->name);
        const std::string name = written->name;
        const std::int64_t due = split.due_ms;
        auto keep = pending_.extract(split.name); // the lock goes once the loop is told
        written_(name, due);
      });
}

} // namespace upesi::outbound
