// Blocking work off the loop: `work` runs on libuv's thread pool, then `done` on the loop
// thread. Without a loop (master, CLI) both run at once: there is nothing to block.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>

namespace upesi {

inline void runOnThreadPool(uv_loop_t* loop, std::function<void()> work,
                            std::function<void()> done) {
  if (loop == nullptr) {
    work();
    done();
    return;
  }
  struct PoolTask {
    uv_work_t req{};
    std::function<void()> work;
    std::function<void()> done;
  };
  auto* task = new PoolTask{{}, std::move(work), std::move(done)};
  task->req.data = task;
  uv_queue_work(
      loop, &task->req, [](uv_work_t* r) { static_cast<PoolTask*>(r->data)->work(); },
      [](uv_work_t* r, int) {
        std::unique_ptr<PoolTask> t(static_cast<PoolTask*>(r->data));
        t->done();
      });
}

} // namespace upesi
