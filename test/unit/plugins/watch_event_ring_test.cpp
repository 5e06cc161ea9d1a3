#include "plugins/watch/event_ring.hpp"
#include "test/support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <string>
#include <sys/wait.h>
#include <unistd.h>

using upesi::plugins::watch::EventRing;
using upesi::test::TempDir;

TEST_CASE("watch ring: events written through one mapping are read through another") {
  TempDir dir;
  auto writer = EventRing::open(dir.path() / "watch.ring", 8);
  auto reader = EventRing::open(dir.path() / "watch.ring", 8);
  REQUIRE(writer.ok());
  REQUIRE(reader.ok());
  std::uint64_t cursor = reader->head();
  writer->publish("one");
  writer->publish("two");
  std::uint64_t lost = 0;
  CHECK(reader->read(cursor, 10, lost) == std::vector<std::string>{"one", "two"});
  CHECK(lost == 0);
  CHECK(reader->read(cursor, 10, lost).empty());
  writer->publish("three");
  CHECK(reader->read(cursor, 10, lost) == std::vector<std::string>{"three"});
}

TEST_CASE("watch ring: a reader a whole ring behind skips what was overwritten") {
  TempDir dir;
  auto ring = EventRing::open(dir.path() / "watch.ring", 4);
  REQUIRE(ring.ok());
  std::uint64_t cursor = ring->head();
  for (int i = 0; i < 10; ++i) {
    ring->publish("event " + std::to_string(i));
  }
  std::uint64_t lost = 0;
  auto events = ring->read(cursor, 100, lost);
  CHECK(lost == 6);
  CHECK(events == std::vector<std::string>{"event 6", "event 7", "event 8", "event 9"});
  // At most `max` at a time.
  for (int i = 0; i < 3; ++i) {
    ring->publish("more");
  }
  CHECK(ring->read(cursor, 2, lost).size() == 2);
  CHECK(ring->read(cursor, 2, lost).size() == 1);
}

TEST_CASE("watch ring: long events are cut to the slot; watched is shared and expires") {
  TempDir dir;
  auto ring = EventRing::open(dir.path() / "watch.ring", 4);
  auto other = EventRing::open(dir.path() / "watch.ring", 4);
  REQUIRE(ring.ok());
  REQUIRE(other.ok());
  std::uint64_t cursor = ring->head();
  ring->publish(std::string(5000, 'x'));
  std::uint64_t lost = 0;
  auto events = ring->read(cursor, 1, lost);
  REQUIRE(events.size() == 1);
  CHECK(events[0].size() < EventRing::SlotSize);
  CHECK(events[0].size() > EventRing::SlotSize - 64);
  CHECK_FALSE(other->watched(1000));
  ring->watchUntil(5000);
  ring->watchUntil(2000); // never moved back
  CHECK(other->watched(4999));
  CHECK_FALSE(other->watched(5000));
}

TEST_CASE("watch ring: processes writing at once lose nothing the ring can hold") {
  TempDir dir;
  auto ring = EventRing::open(dir.path() / "watch.ring", 4096);
  REQUIRE(ring.ok());
  std::uint64_t cursor = ring->head();
  constexpr int Children = 3;
  constexpr int Each = 1000;
  for (int c = 0; c < Children; ++c) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      auto mine = EventRing::open(dir.path() / "watch.ring", 4096);
      for (int i = 0; mine.ok() && i < Each; ++i) {
        mine->publish(std::to_string(c) + ":" + std::to_string(i));
      }
      ::_exit(mine.ok() ? 0 : 1);
    }
  }
  for (int c = 0; c < Children; ++c) {
    int status = 0;
    ::wait(&status);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  std::uint64_t lost = 0;
  auto events = ring->read(cursor, 100000, lost);
  CHECK(lost == 0);
  CHECK(events.size() == Children * Each);
  std::vector<int> next(Children, 0); // each writer's events arrive in its order
  for (const auto& e : events) {
    int c = e[0] - '0';
    CHECK(e == std::to_string(c) + ":" + std::to_string(next[c]++));
  }
}
