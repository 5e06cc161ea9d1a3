#include "common/queue/directory_sync.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using upesi::queue::sharedDirectorySyncs;
using upesi::queue::syncDirectoryShared;

namespace {

fs::path freshDirectory(const char* name) {
  fs::path dir = fs::temp_directory_path() / fmt::format("upesi-dirsync-{}-{}", name, ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

} // namespace

TEST_CASE("shared directory sync: one caller, one fsync") {
  fs::path dir = freshDirectory("one");
  CHECK(syncDirectoryShared(dir.string()).ok());
  CHECK(sharedDirectorySyncs(dir.string()) == 1);
  CHECK(syncDirectoryShared(dir.string()).ok());
  CHECK(sharedDirectorySyncs(dir.string()) == 2);
  fs::remove_all(dir);
}

TEST_CASE("shared directory sync: concurrent callers all return, sharing fsyncs") {
  fs::path dir = freshDirectory("many");
  constexpr int Threads = 8;
  constexpr int PerThread = 40;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < Threads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < PerThread; ++i) {
        std::ofstream(dir / fmt::format("f{}-{}", t, i)) << "x";
        if (syncDirectoryShared(dir.string()).ok()) {
          ++ok;
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK(ok == Threads * PerThread);
  // Every call needs a sync that started after it, so there is at least one; never more than
  // one per call.
  auto syncs = sharedDirectorySyncs(dir.string());
  CHECK(syncs >= 1);
  CHECK(syncs <= static_cast<std::uint64_t>(Threads * PerThread));
  MESSAGE("fsyncs for ", Threads * PerThread, " calls: ", syncs);
  fs::remove_all(dir);
}

TEST_CASE("shared directory sync: a failure reaches the callers of that sync") {
  fs::path dir = fs::temp_directory_path() / fmt::format("upesi-dirsync-missing-{}", ::getpid());
  fs::remove_all(dir);
  auto r = syncDirectoryShared(dir.string());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("upesi-dirsync-missing") != std::string::npos);
}
