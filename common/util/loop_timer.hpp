// LoopTimer: a libuv timer owned by an object of the loop thread, for deadlines that most
// owners never need (the handle is allocated on first start). Its callback never runs after
// stop() or destruction; the handle is freed in its close callback, as libuv requires.
//
// Threading: the loop thread.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>

namespace upesi {

class LoopTimer {
public:
  explicit LoopTimer(uv_loop_t* loop) : loop_(loop) {}
  ~LoopTimer();
  LoopTimer(const LoopTimer&) = delete;
  LoopTimer& operator=(const LoopTimer&) = delete;

  /// (Re)arms the timer: `fire` runs once, `ms` from now, unless stopped first.
  void start(std::uint64_t ms, std::function<void()> fire);
  void stop();
  /// Stops and closes the handle now (a later start() opens another). For owners that outlive
  /// their loop's last turn: a handle closed here is not left for the loop's final walk.
  void close();
  bool armed() const { return armed_; }

private:
  struct Handle;
  static void onFire(uv_timer_t* timer);

  uv_loop_t* loop_;
  Handle* handle_ = nullptr;
  bool armed_ = false;
};

} // namespace upesi
