// A libuv loop of a unit test's own, and a bounded way to run it until something has happened.
#pragma once

#include <doctest/doctest.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>

namespace upesi::test {

/// Runs `loop` until `done` holds; false after `limit` of loop time without it.
inline bool runLoopUntil(uv_loop_t& loop, const std::function<bool()>& done,
                         std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  const std::uint64_t deadline = uv_now(&loop) + static_cast<std::uint64_t>(limit.count());
  while (!done()) {
    if (uv_now(&loop) > deadline) {
      return false;
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_sleep(1);
    uv_update_time(&loop);
  }
  return true;
}

/// A loop; what runs on it must be destroyed before it, and every handle closes at the end.
struct TestLoop {
  uv_loop_t loop{};

  TestLoop() { REQUIRE(uv_loop_init(&loop) == 0); }
  ~TestLoop() {
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
  }
  TestLoop(const TestLoop&) = delete;
  TestLoop& operator=(const TestLoop&) = delete;

  bool runUntil(const std::function<bool()>& done,
                std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
    return runLoopUntil(loop, done, limit);
  }
};

} // namespace upesi::test
