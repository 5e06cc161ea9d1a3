// Group commit for directory fsyncs: every queue file's rename must reach the disk before the
// 250, but one fsync of the directory covers every rename done before it started. Threads that
// ask while a sync runs wait for the next one, which one of them runs for all of them: with
// many sessions writing, the directory is synced a few times instead of once per message.
//
// Threading: any thread (the writers run on libuv's thread pool); calls block.
#pragma once

#include "common/util/result.hpp"

#include <cstdint>
#include <string>
#include <variant>

namespace upesi::queue {

/// fsync(dir) for a rename the caller has already done: returns once a sync that started after
/// the call has finished, with that sync's result.
Result<std::monostate> syncDirectoryShared(const std::string& dir);

/// How many fsyncs syncDirectoryShared has run for `dir` in this process (for tests and
/// benchmarks).
std::uint64_t sharedDirectorySyncs(const std::string& dir);

} // namespace upesi::queue
