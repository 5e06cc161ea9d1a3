#include "test/support/fake_connection.hpp"
#include "test/support/plugin_harness.hpp"

#include <doctest/doctest.h>

using namespace upesi;
using namespace upesi::test;

namespace {
std::vector<std::string> run(PluginHarness& h, FakeConnection& c, int commands) {
  std::vector<std::string> out;
  HookParams params;
  params.verb = "FOO";
  for (int i = 0; i < commands; ++i) {
    auto a = h.call(Hook::UnrecognizedCommand, c, params);
    REQUIRE(a->calls == 1);
    out.push_back(a->name() + (a->text().empty() ? "" : " " + a->text()));
  }
  return out;
}
} // namespace

TEST_CASE("plugins/max_unrecognized_commands: default 10, then DENYDISCONNECT") {
  PluginHarness h("max_unrecognized_commands");
  h.load();
  FakeConnection c;
  auto answers = run(h, c, 10);
  for (int i = 0; i < 9; ++i) {
    CHECK(answers[i] == "CONT");
  }
  CHECK(answers[9] == "DENYDISCONNECT Too many unrecognized commands");
  CHECK(c.notes()["unrecognized_command_count"] == 10);
  CHECK(c.results().has("max_unrecognized_commands", "fail", "FOO"));
  CHECK(c.results().has("max_unrecognized_commands", "fail", "max_unrecognized_commands"));

  // Per connection: another client starts from zero.
  FakeConnection other;
  CHECK(run(h, other, 1)[0] == "CONT");
}

TEST_CASE("plugins/max_unrecognized_commands: the limit comes from config and is re-read") {
  PluginHarness h("max_unrecognized_commands");
  h.host.writeConfig("max_unrecognized_commands", "3\n");
  h.load();
  FakeConnection c;
  auto answers = run(h, c, 3);
  CHECK(answers ==
        std::vector<std::string>{"CONT", "CONT", "DENYDISCONNECT Too many unrecognized commands"});
  h.host.writeConfig("max_unrecognized_commands", "1\n");
  h.host.changed("max_unrecognized_commands");
  FakeConnection c2;
  CHECK(run(h, c2, 1)[0] == "DENYDISCONNECT Too many unrecognized commands");

  h.host.writeConfig("max_unrecognized_commands", "lots\n");
  h.host.changed("max_unrecognized_commands");
  FakeConnection c3;
  auto many = run(h, c3, 10);
  CHECK(many[8] == "CONT");
  CHECK(many[9] == "DENYDISCONNECT Too many unrecognized commands");
}
