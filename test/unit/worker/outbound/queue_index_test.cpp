#include "worker/outbound/queue_index.hpp"

#include <doctest/doctest.h>

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
