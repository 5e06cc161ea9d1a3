#include "plugins/support/message_pump.hpp"

#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <utility>

namespace upesi::plugins {

struct MessagePump::Shared {
  std::mutex mutex;
  std::condition_variable space;
  std::deque<std::string> chunks;
  std::size_t buffered = 0;
  std::optional<std::uint64_t> size;
  bool ended = false;
  bool ok = true;
  bool cancelled = false;
};

namespace {

// The process's pumps: those holding a pool thread, and those waiting for one (loop thread).
struct Turns {
  std::size_t running = 0;
  std::deque<std::weak_ptr<MessagePump>> waiting;
};

Turns& turns() {
  static Turns instance;
  return instance;
}

} // namespace

std::size_t MessagePump::maxRunning() {
  std::size_t pool = 4; // libuv's default
  if (const char* env = std::getenv("UV_THREADPOOL_SIZE")) {
    pool = std::max(1L, std::atol(env));
  }
  return std::max<std::size_t>(1, pool / 2);
}

std::shared_ptr<MessagePump> MessagePump::start(Host& host, std::shared_ptr<Transaction> txn,
                                                Options options, Ready ready) {
  std::shared_ptr<MessagePump> pump(
      new MessagePump(host, std::move(txn), options, std::move(ready)));
  auto* loop = static_cast<uv_loop_t*>(host.uvLoop());
  if (loop != nullptr) {
    pump->async_.open(
        loop, [](uv_loop_t* l, uv_async_t* a) { return uv_async_init(l, a, onAsync); }, pump.get());
  }
  Turns& all = turns();
  if (all.running < maxRunning()) {
    pump->begin();
  } else {
    all.waiting.push_back(pump);
  }
  return pump;
}

MessagePump::MessagePump(Host& host, std::shared_ptr<Transaction> txn, Options options, Ready ready)
    : host_(host), txn_(std::move(txn)), options_(options), ready_(std::move(ready)),
      shared_(std::make_shared<Shared>()) {
  options_.chunk_size = std::max<std::size_t>(1, options_.chunk_size);
  options_.max_buffered = std::max(options_.max_buffered, options_.chunk_size);
}

MessagePump::~MessagePump() {
  // The job holds a reference until workDone(): a pump destroyed here never ran or has ended.
  cancel();
}

void MessagePump::begin() {
  running_ = true;
  ++turns().running;
  auto self = shared_from_this();
  host_.runInThreadPool([self] { self->work(); }, [self] { self->workDone(); });
}

void MessagePump::work() {
  Shared& s = *shared_;
  if (options_.measure) {
    std::uint64_t bytes = 0;
    const bool read = txn_->writeMessage(
        [&](std::string_view chunk) {
          bytes += chunk.size();
          std::lock_guard lock(s.mutex);
          return !s.cancelled;
        },
        options_.write);
    {
      std::lock_guard lock(s.mutex);
      s.size = bytes;
      if (!read) {
        s.ok = false;
        s.ended = true;
        return;
      }
    }
    wake();
  }
  std::string pending;
  bool read = txn_->writeMessage(
      [&](std::string_view bytes) {
        while (!bytes.empty()) {
          const std::size_t n = std::min(options_.chunk_size - pending.size(), bytes.size());
          pending.append(bytes.substr(0, n));
          bytes.remove_prefix(n);
          if (pending.size() == options_.chunk_size && !push(std::exchange(pending, {}))) {
            return false;
          }
        }
        return true;
      },
      options_.write);
  if (read && !pending.empty()) {
    read = push(std::move(pending));
  }
  std::lock_guard lock(s.mutex);
  s.ok = read && !s.cancelled;
  s.ended = true;
}

bool MessagePump::push(std::string chunk) {
  Shared& s = *shared_;
  {
    std::unique_lock lock(s.mutex);
    s.space.wait(lock, [&] { return s.cancelled || s.buffered < options_.max_buffered; });
    if (s.cancelled) {
      return false;
    }
    s.buffered += chunk.size();
    s.chunks.push_back(std::move(chunk));
  }
  wake();
  return true;
}

void MessagePump::wake() {
  // The handle is closed only in workDone(), after the job: it is open while work() runs.
  if (async_) {
    uv_async_send(async_.get());
  }
}

void MessagePump::onAsync(uv_async_t* async) {
  auto* pump = static_cast<MessagePump*>(async->data);
  if (pump != nullptr && pump->ready_) {
    auto ready = pump->ready_; // the owner may cancel from inside
    ready();
  }
}

void MessagePump::workDone() {
  async_.reset();
  running_ = false;
  Turns& all = turns();
  --all.running;
  while (!all.waiting.empty() && all.running < maxRunning()) {
    auto next = all.waiting.front().lock();
    all.waiting.pop_front();
    if (next && !next->shared_->cancelled) {
      next->begin();
    }
  }
  if (ready_) {
    auto ready = ready_; // the owner may drop the pump from inside
    ready();
  }
}

std::optional<std::uint64_t> MessagePump::size() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->size;
}

std::optional<std::string> MessagePump::take() {
  Shared& s = *shared_;
  std::optional<std::string> chunk;
  {
    std::lock_guard lock(s.mutex);
    if (s.chunks.empty()) {
      return std::nullopt;
    }
    chunk = std::move(s.chunks.front());
    s.chunks.pop_front();
    s.buffered -= chunk->size();
  }
  s.space.notify_one();
  return chunk;
}

bool MessagePump::finished() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->ended && shared_->ok && shared_->chunks.empty();
}

bool MessagePump::failed() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->ended && !shared_->ok && !shared_->cancelled;
}

void MessagePump::cancel() {
  ready_ = nullptr;
  {
    std::lock_guard lock(shared_->mutex);
    shared_->cancelled = true;
    shared_->chunks.clear();
    shared_->buffered = 0;
  }
  shared_->space.notify_all();
}

} // namespace upesi::plugins
