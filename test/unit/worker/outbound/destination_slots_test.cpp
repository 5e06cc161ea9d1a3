#include "worker/outbound/destination_slots.hpp"

#include <doctest/doctest.h>

using namespace upesi::outbound;

TEST_CASE("destination slots: at most the limit per destination, the rest wait in order") {
  DestinationSlots slots(2);
  CHECK(slots.acquire("a1", "a.example"));
  CHECK(slots.acquire("a2", "a.example"));
  CHECK_FALSE(slots.acquire("a3", "a.example"));
  CHECK_FALSE(slots.acquire("a4", "a.example"));
  CHECK(slots.acquire("b1", "b.example")); // another destination is not held up
  CHECK(slots.inFlight("a.example") == 2);
  CHECK(slots.isWaiting("a3"));
  CHECK(slots.waitingCount() == 2);

  // Asking again changes nothing: a waiting file keeps its place, a holder keeps its slot.
  CHECK_FALSE(slots.acquire("a3", "a.example"));
  CHECK(slots.acquire("a1", "a.example"));
  CHECK(slots.waitingCount() == 2);
  CHECK(slots.inFlight("a.example") == 2);

  // An ending delivery hands its slot to the first waiting file, which then holds it.
  CHECK(slots.release("a1") == "a3");
  CHECK_FALSE(slots.isWaiting("a3"));
  CHECK(slots.inFlight("a.example") == 2);
  CHECK(slots.acquire("a3", "a.example"));
  CHECK(slots.release("a2") == "a4");
  CHECK(slots.release("a3") == std::nullopt);
  CHECK(slots.release("a4") == std::nullopt);
  CHECK(slots.inFlight("a.example") == 0);
  CHECK(slots.waitingCount() == 0);
}

TEST_CASE("destination slots: a name that holds nothing releases nothing; waiting goes on") {
  DestinationSlots slots(1);
  CHECK(slots.acquire("x1", "x.example"));
  CHECK_FALSE(slots.acquire("x2", "x.example"));
  CHECK(slots.release("unknown") == std::nullopt);
  CHECK(slots.release("x2") == std::nullopt); // a waiting file's delivery ended: it still waits
  CHECK(slots.isWaiting("x2"));
  CHECK(slots.release("x1") == "x2");
  CHECK(slots.release("x1") == std::nullopt); // twice is harmless
  CHECK(slots.inFlight("x.example") == 1);
}

TEST_CASE("destination slots: 0 is no limit; raising the limit admits waiting files") {
  DestinationSlots unlimited(0);
  for (int i = 0; i < 500; ++i) {
    CHECK(unlimited.acquire("m" + std::to_string(i), "big.example"));
  }
  CHECK(unlimited.inFlight("big.example") == 500);

  DestinationSlots slots(1);
  CHECK(slots.acquire("a1", "a.example"));
  CHECK_FALSE(slots.acquire("a2", "a.example"));
  CHECK_FALSE(slots.acquire("a3", "a.example"));
  CHECK_FALSE(slots.acquire("a4", "a.example"));
  CHECK(slots.setLimit(3) == std::vector<std::string>{"a2", "a3"});
  CHECK(slots.isWaiting("a4"));
  CHECK(slots.inFlight("a.example") == 3);

  // Lowering it lets the deliveries in flight finish; no slot is handed on until below it.
  CHECK(slots.setLimit(1).empty());
  CHECK(slots.release("a1") == std::nullopt);
  CHECK(slots.release("a2") == std::nullopt);
  CHECK(slots.release("a3") == "a4");
  CHECK(slots.setLimit(0).empty());
}
