#include "common/util/uv_handle.hpp"

#include <doctest/doctest.h>
#include <uv.h>

using upesi::UvHandle;

namespace {

struct Owner {
  int fired = 0;
};

void countFire(uv_timer_t* timer) {
  if (auto* owner = static_cast<Owner*>(timer->data)) {
    ++owner->fired;
  }
}

} // namespace

TEST_CASE("UvHandle: a reset handle's callback never reaches its owner, and the loop ends") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  Owner owner;
  {
    UvHandle<uv_timer_t> timer;
    REQUIRE(timer.open(&loop, uv_timer_init, &owner) == 0);
    CHECK(timer.get()->data == &owner);
    uv_timer_start(timer.get(), countFire, 0, 0);
    CHECK(uv_run(&loop, UV_RUN_NOWAIT) == 0);
    CHECK(owner.fired == 1);
    uv_timer_start(timer.get(), countFire, 0, 0);
  } // destroyed while armed: closed, not fired
  CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
  CHECK(owner.fired == 1);
  CHECK(uv_loop_close(&loop) == 0); // every handle closed (and freed: the sanitizer build checks)
}

TEST_CASE("UvHandle: moving hands the handle over; a failed open holds nothing") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  UvHandle<uv_timer_t> first;
  REQUIRE(first.open(&loop, uv_timer_init, nullptr) == 0);
  uv_timer_t* raw = first.get();
  UvHandle<uv_timer_t> second(std::move(first));
  CHECK_FALSE(first);
  CHECK(second.get() == raw);
  first.reset(); // empty: nothing happens
  UvHandle<uv_timer_t> failed;
  CHECK(failed.open(
            &loop, [](uv_loop_t*, uv_timer_t*) { return UV_EINVAL; }, nullptr) == UV_EINVAL);
  CHECK_FALSE(failed);
  second.reset();
  CHECK_FALSE(second);
  CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
  CHECK(uv_loop_close(&loop) == 0);
}
