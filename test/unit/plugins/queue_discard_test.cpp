#include "test/support/fake_connection.hpp"
#include "test/support/plugin_harness.hpp"

#include <doctest/doctest.h>

#include <cstdlib>

using namespace upesi;
using namespace upesi::test;

TEST_CASE("plugins/queue/discard: drops only when asked") {
  ::unsetenv("YES_REALLY_DO_DISCARD");
  PluginHarness h("queue/discard");
  h.load();
  REQUIRE(h.count(Hook::Queue) == 1);
  REQUIRE(h.count(Hook::QueueOutbound) == 1);

  auto verdict = [&](Hook hook, auto setup) {
    FakeConnection c;
    c.begin(makeAddress("a", "example.com"));
    setup(c);
    auto a = h.call(hook, c);
    REQUIRE(a->calls == 1);
    return a->name();
  };
  auto nothing = [](FakeConnection&) {};
  CHECK(verdict(Hook::Queue, nothing) == "CONT");
  CHECK(verdict(Hook::QueueOutbound, nothing) == "CONT");
  CHECK(verdict(Hook::Queue, [](FakeConnection& c) { c.notes()["discard"] = true; }) == "OK");
  CHECK(verdict(Hook::Queue, [](FakeConnection& c) { c.notes()["discard"] = false; }) == "CONT");
  CHECK(verdict(Hook::Queue, [](FakeConnection& c) { c.notes()["discard"] = 0; }) == "CONT");
  CHECK(verdict(Hook::Queue, [](FakeConnection& c) { c.notes()["discard"] = ""; }) == "CONT");
  CHECK(verdict(Hook::Queue, [](FakeConnection& c) { c.notes()["discard"] = 1; }) == "OK");
  CHECK(verdict(Hook::QueueOutbound,
                [](FakeConnection& c) { c.txn().notes()["discard"] = "yes"; }) == "OK");
  CHECK(verdict(Hook::Queue, [](FakeConnection& c) {
          c.txn().notes()["queue"] = {{"wants", "discard"}};
        }) == "OK");
  // Another queue is wanted: even a discard note does not take the message from it.
  CHECK(verdict(Hook::Queue, [](FakeConnection& c) {
          c.txn().notes()["queue"] = {{"wants", "smtp_forward"}};
          c.txn().notes()["discard"] = true;
        }) == "CONT");

  ::setenv("YES_REALLY_DO_DISCARD", "1", 1);
  CHECK(verdict(Hook::Queue, nothing) == "OK");
  ::setenv("YES_REALLY_DO_DISCARD", "", 1);
  CHECK(verdict(Hook::Queue, nothing) == "CONT");
  ::unsetenv("YES_REALLY_DO_DISCARD");

  FakeConnection no_txn;
  CHECK(h.call(Hook::Queue, no_txn)->name() == "CONT");
}
