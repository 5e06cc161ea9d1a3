#include "test/support/fake_connection.hpp"
#include "test/support/plugin_harness.hpp"

#include <doctest/doctest.h>

#include <sys/prctl.h>

using namespace upesi;
using namespace upesi::test;

namespace upesi::plugins::process_title {
std::string titleFor(const std::string& base, const nlohmann::json& notes,
                     const OutboundStats& out);
}

TEST_CASE("plugins/process_title: counters on connect, disconnect and queue_ok") {
  char saved[17] = {};
  ::prctl(PR_GET_NAME, saved, 0, 0, 0);

  PluginHarness h("process_title");
  h.load();
  FakeConnection c;
  CHECK(h.call(Hook::InitChild, c)->calls == 1);
  for (int i = 0; i < 3; ++i) {
    CHECK(h.call(Hook::ConnectInit, c)->calls == 1);
  }
  CHECK(h.call(Hook::Disconnect, c)->calls == 1);
  CHECK(h.call(Hook::QueueOk, c)->calls == 1);
  auto& notes = h.host.serverNotes();
  CHECK(notes["pt_connections"] == 3);
  CHECK(notes["pt_concurrent"] == 2);
  CHECK(notes["pt_messages"] == 1);
  using upesi::plugins::process_title::titleFor;
  CHECK(titleFor("upesi (worker)", notes, {}) ==
        "upesi (worker) cn=3 cc=2 msgs=1 out=0/0/0 queue=0 delivered=0 deferred=0 bounced=0");

  char name[17] = {};
  ::prctl(PR_GET_NAME, name, 0, 0, 0);
  CHECK(std::string(name) == "upesi (worker) ");

  // Never below zero, whatever order the hooks come in.
  for (int i = 0; i < 5; ++i) {
    h.call(Hook::Disconnect, c);
  }
  CHECK(notes["pt_concurrent"] == 0);
  ::prctl(PR_SET_NAME, saved, 0, 0, 0);
}

// Haraka's process_title: out = mails being processed / waiting to be processed / in temp fail
// state; and ours, the queue's size and what its deliveries did.
TEST_CASE("plugins/process_title: the outbound figures") {
  OutboundStats out;
  out.in_flight = 2;
  out.waiting = 1;
  out.deferred = 4;
  out.queued = 7;
  out.delivered = 30;
  out.deferrals = 5;
  out.bounced = 3;
  using upesi::plugins::process_title::titleFor;
  CHECK(titleFor("upesi (worker)", nlohmann::json::object(), out) ==
        "upesi (worker) cn=0 cc=0 msgs=0 out=2/1/4 queue=7 delivered=30 deferred=5 bounced=3");

  char saved[17] = {};
  ::prctl(PR_GET_NAME, saved, 0, 0, 0);
  PluginHarness h("process_title");
  h.load();
  FakeConnection c;
  h.host.outbound_stats = out;
  for (Hook hook : {Hook::Delivered, Hook::Deferred, Hook::Bounce}) {
    auto answer = h.call(hook, c);
    CHECK(answer->calls == 1);
    CHECK(answer->name() == "CONT");
  }
  ::prctl(PR_SET_NAME, saved, 0, 0, 0);
}
