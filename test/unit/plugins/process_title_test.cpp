#include "test/support/fake_connection.hpp"
#include "test/support/plugin_harness.hpp"

#include <doctest/doctest.h>

#include <sys/prctl.h>

using namespace upesi;
using namespace upesi::test;

namespace upesi::plugins::process_title {
std::string titleFor(const std::string& base, const nlohmann::json& notes);
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
  CHECK(titleFor("upesi (worker)", notes) == "upesi (worker) cn=3 cc=2 msgs=1");

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
