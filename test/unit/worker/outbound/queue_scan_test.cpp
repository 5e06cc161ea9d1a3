#include "common/queue/queue_file_name.hpp"
#include "worker/outbound/queue_scan.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <stdlib.h>

using namespace upesi::outbound;
namespace fs = std::filesystem;

namespace {

struct QueueDir {
  fs::path dir;
  QueueDir() {
    char name[] = "/tmp/upesi-queue-scan-test-XXXXXX";
    REQUIRE(::mkdtemp(name) != nullptr);
    dir = name;
  }
  ~QueueDir() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
  QueueDir(const QueueDir&) = delete;
  QueueDir& operator=(const QueueDir&) = delete;

  /// A queue file that arrived at `arrival` and is next due at `due`.
  std::string add(std::int64_t arrival, std::int64_t due, std::uint32_t counter) {
    auto name = upesi::queue::QueueFileName::makeNew(arrival, 4242, "host");
    name.next_attempt_ms = due;
    name.counter = counter;
    std::string text = name.format();
    std::ofstream(dir / text) << "x";
    return text;
  }
};

} // namespace

TEST_CASE("queue read: the earliest due files, the others counted") {
  QueueDir q;
  std::vector<std::string> names;
  for (int i = 0; i < 10; ++i) {
    // due times 10 000, 9 000, ... 1 000: the order on disk says nothing
    names.push_back(q.add(500 + i, 10000 - i * 1000, static_cast<std::uint32_t>(i)));
  }
  std::ofstream(q.dir / "not-a-queue-file") << "x";
  std::ofstream(q.dir / "__tmp__.1_2_0_3_abc_4_host") << "x";

  auto read = readQueueDirectory(q.dir.string(), 3, nullptr);
  CHECK(read.error.empty());
  CHECK(read.total == 10);
  REQUIRE(read.files.size() == 3);
  CHECK(read.files[0] == std::pair<std::string, std::int64_t>{names[9], 1000});
  CHECK(read.files[1] == std::pair<std::string, std::int64_t>{names[8], 2000});
  CHECK(read.files[2] == std::pair<std::string, std::int64_t>{names[7], 3000});
  CHECK(read.left_out == 7);
  CHECK(read.left_out_due == 4000);
  CHECK(read.oldest_arrival_ms == 500);
  CHECK(read.flushed == nullptr);

  auto all = readQueueDirectory(q.dir.string(), 100, nullptr);
  CHECK(all.files.size() == 10);
  CHECK(all.left_out == 0);
}

TEST_CASE("queue read: a flush's files stay due at the flush in later reads") {
  QueueDir q;
  auto before = q.add(100, 50000, 1);
  auto earlier = q.add(100, 40000, 2);
  auto flush = readQueueDirectory(q.dir.string(), 1, nullptr, 1000);
  REQUIRE(flush.flushed != nullptr);
  CHECK(flush.flushed->hashes.size() == 2);
  REQUIRE(flush.files.size() == 1);
  CHECK(flush.files[0] == std::pair<std::string, std::int64_t>{earlier, 1000}); // older first
  CHECK(flush.left_out == 1);
  CHECK(flush.left_out_due == 1000);

  // Deferred again after the flush: a new name, due later; and a file queued since.
  fs::remove(q.dir / earlier);
  auto deferred = q.add(100, 60000, 3);
  auto fresh = q.add(2000, 2000, 4);
  auto next = readQueueDirectory(q.dir.string(), 2, flush.flushed);
  CHECK(next.flushed == nullptr);
  REQUIRE(next.files.size() == 2);
  CHECK(next.files[0] == std::pair<std::string, std::int64_t>{before, 1000}); // still flushed
  CHECK(next.files[1] == std::pair<std::string, std::int64_t>{fresh, 2000});
  CHECK(next.left_out == 1);
  CHECK(next.left_out_due == 60000); // the deferred one is not flushed twice
}

TEST_CASE("queue read: a directory that cannot be read says why") {
  auto read = readQueueDirectory("/nonexistent/upesi-queue", 10, nullptr);
  CHECK_FALSE(read.error.empty());
  CHECK(read.files.empty());
}
