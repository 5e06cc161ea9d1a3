#include "worker/outbound/queue_index.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

using namespace upesi::outbound;

TEST_CASE("queue index: one due time per name, the earliest asked") {
  QueueIndex index(10);
  index.schedule("a", 300);
  index.schedule("a", 500); // later: kept at 300
  index.schedule("b", 200);
  CHECK(index.size() == 2);
  CHECK(index.earliest() == 200);
  index.schedule("a", 100);
  CHECK(index.earliest() == 100);
  CHECK(index.dueBy(150) == 1);
  CHECK(index.dueBy(1000) == 2);
  const std::map<std::string, int> no_priorities;
  CHECK(index.takeDue(50, no_priorities) == std::nullopt);
  CHECK(index.takeDue(1000, no_priorities) == "a");
  CHECK(index.takeDue(1000, no_priorities) == "b");
  CHECK(index.empty());
  CHECK(index.earliest() == QueueIndex::Never);
}

TEST_CASE("queue index: trimming leaves out the latest and remembers the earliest of them") {
  QueueIndex index(3);
  for (int i = 1; i <= 5; ++i) {
    index.schedule("f" + std::to_string(i), i * 100);
  }
  CHECK(index.trimTo(3) == std::vector<std::string>{"f5", "f4"});
  CHECK(index.size() == 3);
  CHECK_FALSE(index.contains("f4"));
  CHECK(index.leftOut() == 2);
  CHECK(index.leftOutDue() == 400);
  // A read of the directory knows better: it replaces what the trims counted.
  index.directoryRead(7, 350);
  CHECK(index.leftOut() == 7);
  CHECK(index.leftOutDue() == 350);
  index.directoryRead(0, 350);
  CHECK(index.leftOut() == 0);
  CHECK(index.leftOutDue() == QueueIndex::Never);
}

TEST_CASE("queue index: a flush makes every file due now and keeps their order") {
  QueueIndex index(10);
  index.schedule("old", 100);
  index.schedule("later", 9000);
  index.schedule("latest", 9500);
  CHECK(index.makeAllDue(1000) == 3);
  CHECK(index.dueBy(1000) == 3);
  const std::map<std::string, int> no_priorities;
  CHECK(index.takeDue(1000, no_priorities) == "old");
  CHECK(index.takeDue(1000, no_priorities) == "later");
  index.schedule("latest", 5000); // no later than the flush made it
  CHECK(index.takeDue(1000, no_priorities) == "latest");
}

TEST_CASE("queue index: due files go round-robin across destinations, not in queue order") {
  QueueIndex index(100);
  for (const char* domain : {"a.example", "b.example", "c.example"}) {
    for (int i = 0; i < 3; ++i) {
      index.schedule(std::string(domain) + std::to_string(i), 100 + i, domain);
    }
  }
  const std::map<std::string, int> no_priorities;
  std::vector<std::string> taken;
  for (int i = 0; i < 6; ++i) {
    taken.push_back(*index.takeDue(1000, no_priorities));
  }
  CHECK(taken == std::vector<std::string>{"a.example0", "b.example0", "c.example0", "a.example1",
                                          "b.example1", "c.example1"});
  CHECK(index.inFlight("a.example") == 2);
  CHECK(index.dueBy(1000) == 3);
}

TEST_CASE("queue index: the destination whose delivery ended goes next, on its idle connection") {
  QueueIndex index(100);
  for (const char* domain : {"a.example", "b.example", "c.example"}) {
    for (int i = 0; i < 3; ++i) {
      index.schedule(std::string(domain) + std::to_string(i), 100, domain);
    }
  }
  const std::map<std::string, int> no_priorities;
  CHECK(index.takeDue(1000, no_priorities) == "a.example0");
  CHECK(index.takeDue(1000, no_priorities) == "b.example0");
  CHECK(index.takeDue(1000, no_priorities) == "c.example0");
  index.finished("b.example0");
  CHECK(index.inFlight("b.example") == 0);
  CHECK(index.takeDue(1000, no_priorities) == "b.example1");
  index.finished("b.example1");
  index.finished("c.example0");
  // Both have none in flight: the one served longer ago goes first.
  CHECK(index.takeDue(1000, no_priorities) == "c.example1");
  CHECK(index.takeDue(1000, no_priorities) == "b.example2");
  index.finished("unknown"); // not taken: nothing changes
  CHECK(index.inFlight("a.example") == 1);
}

TEST_CASE("queue index: a higher MT-PRIORITY goes before the turn of destinations") {
  QueueIndex index(100);
  index.schedule("a-low", 100, "a.example");
  index.schedule("a-urgent", 300, "a.example");
  index.schedule("b-first", 100, "b.example");
  index.schedule("b-late", 100, "b.example");
  index.schedule("not-due", 5000, "c.example");
  const std::map<std::string, int> priorities = {{"a-urgent", 4}, {"b-first", -2}, {"not-due", 9}};
  CHECK(index.takeDue(1000, priorities) == "a-urgent");
  CHECK(index.takeDue(1000, priorities) == "b-late"); // 0 goes before -2 within b
  CHECK(index.takeDue(1000, priorities) == "a-low");
  CHECK(index.takeDue(1000, priorities) == "b-first");
  CHECK(index.takeDue(1000, priorities) == std::nullopt);
  CHECK(index.earliest() == 5000);
}

TEST_CASE("queue index: trimming due files takes them from the destination served most") {
  QueueIndex index(10);
  for (int i = 0; i < 3; ++i) {
    index.schedule("a" + std::to_string(i), 100, "a.example");
    index.schedule("b" + std::to_string(i), 100, "b.example");
  }
  const std::map<std::string, int> no_priorities;
  CHECK(index.takeDue(1000, no_priorities) == "a0"); // all six found due, a served
  CHECK(index.earliest() == 100);
  CHECK(index.trimTo(3) == std::vector<std::string>{"a2", "a1"});
  CHECK(index.leftOut() == 2);
  CHECK(index.leftOutDue() == 100);
  CHECK(index.size() == 3);
  CHECK(index.takeDue(1000, no_priorities) == "b0");
  CHECK(index.takeDue(1000, no_priorities) == "b1");
  CHECK(index.takeDue(1000, no_priorities) == "b2");
  CHECK(index.empty());
  CHECK(index.earliest() == QueueIndex::Never);
  index.finished("a0");
  index.finished("b0");
  CHECK(index.inFlight("a.example") == 0);
}
