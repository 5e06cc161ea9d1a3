#include "common/util/loop_timer.hpp"

#include <utility>

namespace upesi {

struct LoopTimer::Handle {
  uv_timer_t timer{}; // first: the handle's address is the Handle's
  LoopTimer* owner = nullptr;
  std::function<void()> fire;
};

LoopTimer::~LoopTimer() {
  close();
}

void LoopTimer::close() {
  armed_ = false;
  if (handle_ == nullptr) {
    return;
  }
  Handle* handle = std::exchange(handle_, nullptr);
  handle->owner = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&handle->timer),
           [](uv_handle_t* h) { delete reinterpret_cast<Handle*>(h); });
}

void LoopTimer::start(std::uint64_t ms, std::function<void()> fire) {
  if (handle_ == nullptr) {
    handle_ = new Handle{};
    handle_->owner = this;
    uv_timer_init(loop_, &handle_->timer);
  }
  handle_->fire = std::move(fire);
  armed_ = true;
  uv_timer_start(&handle_->timer, onFire, ms, 0);
}

void LoopTimer::stop() {
  if (handle_ != nullptr && armed_) {
    uv_timer_stop(&handle_->timer);
  }
  armed_ = false;
}

void LoopTimer::onFire(uv_timer_t* timer) {
  auto* handle = reinterpret_cast<Handle*>(timer);
  if (handle->owner == nullptr) {
    return;
  }
  handle->owner->armed_ = false;
  // The callback may restart the timer (replacing `fire`) or destroy the owner: run a copy.
  auto fire = handle->fire;
  fire();
}

} // namespace upesi
