#include "test/support/fake_connection.hpp"
#include "test/support/plugin_harness.hpp"

#include <doctest/doctest.h>
#include <uv.h>

using namespace upesi;
using namespace upesi::test;

namespace upesi::plugins::tarpit {
std::vector<std::string> splitHookList(std::string_view text);
}

TEST_CASE("plugins/tarpit: registers first on every default hook") {
  PluginHarness h("tarpit");
  h.load();
  for (Hook hook : {Hook::Connect, Hook::Helo, Hook::Ehlo, Hook::Mail, Hook::Rcpt, Hook::RcptOk,
                    Hook::Data, Hook::DataPost, Hook::Queue, Hook::UnrecognizedCommand, Hook::Vrfy,
                    Hook::Noop, Hook::Rset, Hook::Quit}) {
    REQUIRE(h.count(hook) == 1);
    CHECK(h.table.entries(hook)[0].priority == MinHookPriority);
  }
  CHECK(h.count(Hook::ConnectInit) == 0);
  CHECK(h.count(Hook::Disconnect) == 0);
}

TEST_CASE("plugins/tarpit: hooks_to_delay from tarpit.ini") {
  using upesi::plugins::tarpit::splitHookList;
  CHECK(splitHookList(" rcpt,mail;  data\tquit ") ==
        std::vector<std::string>{"rcpt", "mail", "data", "quit"});
  PluginHarness h("tarpit");
  h.host.writeConfig("tarpit.ini", "[main]\nhooks_to_delay=rcpt; mail, rcpt bogus disconnect\n");
  h.load();
  CHECK(h.count(Hook::Rcpt) == 1);
  CHECK(h.count(Hook::Mail) == 1);
  CHECK(h.count(Hook::Connect) == 0);
  CHECK(h.count(Hook::Disconnect) == 0);
  CHECK(h.host.logged("cannot delay \"bogus\""));
  CHECK(h.host.logged("cannot delay \"disconnect\""));
}

TEST_CASE("plugins/tarpit: delays by the note, connection first, then transaction") {
  PluginHarness h("tarpit");
  h.load();
  FakeConnection c;
  auto none = h.call(Hook::Connect, c);
  CHECK(none->calls == 1); // no note: no delay
  CHECK(h.host.pendingDelays().empty());

  c.notes()["tarpit"] = 3;
  auto delayed = h.call(Hook::Connect, c);
  CHECK(delayed->calls == 0);
  CHECK(h.host.pendingDelays() == std::vector<std::uint64_t>{3000});
  h.host.runTimers();
  REQUIRE(delayed->calls == 1);
  CHECK(delayed->name() == "CONT");

  FakeConnection t;
  t.begin().notes()["tarpit"] = "0.5";
  auto txn_delay = h.call(Hook::Rcpt, t);
  CHECK(h.host.pendingDelays() == std::vector<std::uint64_t>{500});
  h.host.runTimers();
  CHECK(txn_delay->calls == 1);

  FakeConnection bad;
  bad.notes()["tarpit"] = "soon";
  CHECK(h.call(Hook::Helo, bad)->calls == 1);
  bad.notes()["tarpit"] = -4;
  CHECK(h.call(Hook::Helo, bad)->calls == 1);
  bad.notes()["tarpit"] = 1e9;
  h.call(Hook::Helo, bad);
  CHECK(h.host.pendingDelays() == std::vector<std::uint64_t>{3600000});
}

TEST_CASE("plugins/tarpit: a real timer holds the answer") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    PluginHarness h("tarpit");
    h.host.attachLoop(&loop);
    h.load();
    FakeConnection c;
    c.notes()["tarpit"] = 0.03;
    auto a = h.call(Hook::Mail, c);
    CHECK(a->calls == 0);
    auto started = uv_now(&loop);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(a->calls == 1);
    CHECK(uv_now(&loop) - started >= 29);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}
