// Wall-clock time as the queue records it: milliseconds since the epoch (Haraka's queue_time
// and the times in queue file names).
#pragma once

#include <chrono>
#include <cstdint>

namespace upesi {

inline std::int64_t epochMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

} // namespace upesi
