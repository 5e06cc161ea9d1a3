#include "worker/outbound/delivery_outcome.hpp"

#include <doctest/doctest.h>

using namespace upesi::outbound;

TEST_CASE("delivery outcome: which files the schedule gets, and when") {
  CHECK_FALSE(DeliveryOutcome::done().schedules());
  CHECK(DeliveryOutcome::done().name.empty());

  const auto due = DeliveryOutcome::due("1700000000000_1_0_1_a_b_h", 42);
  CHECK((due.file == DeliveryOutcome::File::Due));
  CHECK(due.schedules());
  CHECK(due.name == "1700000000000_1_0_1_a_b_h");
  CHECK(due.due_ms == 42);

  const auto delayed = DeliveryOutcome::delayed("n", 7);
  CHECK((delayed.file == DeliveryOutcome::File::Delayed));
  CHECK(delayed.schedules());
  CHECK(delayed.due_ms == 7);

  Split split;
  split.name = "original";
  split.next_name = "rest";
  const auto held = DeliveryOutcome::splitHeld(std::move(split), 5000);
  CHECK((held.file == DeliveryOutcome::File::SplitHeld));
  CHECK_FALSE(held.schedules()); // the split is scheduled once written
  REQUIRE(held.split.has_value());
  CHECK(held.split->name == "original");
  CHECK(held.retry_ms == 5000);

  CHECK(held.counts.delivered == 0);
  CHECK(held.counts.deferred == 0);
  CHECK(held.counts.bounced == 0);
}
