#include "worker/outbound/due_order.hpp"

#include <doctest/doctest.h>

using namespace upesi::outbound;

TEST_CASE("due order: the highest MT-PRIORITY among the due files, else the earliest") {
  std::multimap<std::int64_t, std::string> due = {
      {100, "a"}, {200, "b"}, {300, "c"}, {900, "later"}};
  std::map<std::string, int> priorities;
  CHECK(pickDue(due, 500, priorities)->second == "a");
  priorities["c"] = 5;
  priorities["later"] = 9; // not due yet
  CHECK(pickDue(due, 500, priorities)->second == "c");
  priorities["b"] = 5; // a tie goes to the earlier
  CHECK(pickDue(due, 500, priorities)->second == "b");
  priorities["a"] = -3;
  priorities.erase("b");
  priorities.erase("c");
  CHECK(pickDue(due, 500, priorities)->second == "b"); // 0 beats -3
  CHECK(pickDue(due, 1000, priorities)->second == "later");
  // Only the first `lookahead` due files are looked at.
  CHECK(pickDue(due, 1000, priorities, 2)->second == "b");
  std::multimap<std::int64_t, std::string> none;
  CHECK(pickDue(none, 1000, priorities) == none.end());
}
