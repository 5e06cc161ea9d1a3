#include "test/support/fake_connection.hpp"
#include "test/support/plugin_harness.hpp"

#include <doctest/doctest.h>
#include <uv.h>

using namespace upesi;
using namespace upesi::test;

TEST_CASE("plugins/early_talker: without a pause it does nothing") {
  PluginHarness h("early_talker");
  h.load();
  FakeConnection c;
  c.early_talker = true;
  auto init = h.call(Hook::ConnectInit, c);
  CHECK(init->calls == 1);
  CHECK(h.host.pendingDelays().empty());
  auto connect = h.call(Hook::Connect, c);
  CHECK(connect->calls == 1);
  CHECK(connect->name() == "CONT");
}

TEST_CASE("plugins/early_talker: pauses before the banner, rejects a client that talked") {
  PluginHarness h("early_talker");
  h.host.writeConfig("early_talker.ini", "[main]\npause=1.5\n");
  h.load();
  REQUIRE(h.count(Hook::ConnectInit) == 1);
  REQUIRE(h.count(Hook::Connect) == 1);
  REQUIRE(h.count(Hook::Data) == 1);

  FakeConnection c;
  auto init = h.call(Hook::ConnectInit, c);
  CHECK(init->calls == 0); // waiting
  CHECK(h.host.pendingDelays() == std::vector<std::uint64_t>{1500});
  c.early_talker = true; // the client spoke during the pause
  h.host.runTimers();
  CHECK(init->calls == 1);
  auto connect = h.call(Hook::Connect, c);
  REQUIRE(connect->calls == 1);
  CHECK(connect->name() == "DENYDISCONNECT");
  CHECK(connect->text() == "You talk too soon");
  CHECK(c.results().has("early_talker", "fail", "early"));

  FakeConnection polite;
  h.call(Hook::ConnectInit, polite);
  h.host.runTimers();
  auto ok = h.call(Hook::Connect, polite);
  CHECK(ok->name() == "CONT");
  CHECK(polite.results().has("early_talker", "pass", "early"));
}

TEST_CASE("plugins/early_talker: the DATA pause goes through a real timer") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    PluginHarness h("early_talker");
    h.host.writeConfig("early_talker.ini", "[main]\npause=0.02\n");
    h.host.attachLoop(&loop);
    h.load();
    FakeConnection c;
    c.begin(makeAddress("a", "example.com"));
    c.early_talker = true;
    auto data = h.call(Hook::Data, c);
    CHECK(data->calls == 0);
    auto started = uv_now(&loop);
    uv_run(&loop, UV_RUN_DEFAULT);
    REQUIRE(data->calls == 1);
    CHECK(data->name() == "DENYDISCONNECT");
    CHECK(uv_now(&loop) - started >= 19);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("plugins/early_talker: reject=false records only; trusted clients are skipped") {
  PluginHarness h("early_talker");
  h.host.writeConfig("early_talker.ini",
                     "[main]\npause=1\nreject=false\n[ip_whitelist]\n198.51.100.0/24\n");
  h.load();
  FakeConnection c;
  c.early_talker = true;
  c.begin();
  auto data = h.call(Hook::Data, c);
  h.host.runTimers();
  REQUIRE(data->calls == 1);
  CHECK(data->name() == "CONT");
  CHECK(c.results().has("early_talker", "fail", "early"));

  FakeConnection listed;
  listed.remote_endpoint.ip = "198.51.100.7";
  listed.early_talker = true;
  auto init = h.call(Hook::ConnectInit, listed);
  CHECK(init->calls == 1); // no pause
  CHECK(listed.results().has("early_talker", "skip", "whitelist"));

  FakeConnection priv;
  priv.remote_endpoint.is_private = true;
  CHECK(h.call(Hook::ConnectInit, priv)->calls == 1);
  CHECK(priv.results().has("early_talker", "skip", "private_ip"));

  FakeConnection relay;
  relay.setRelaying(true);
  CHECK(h.call(Hook::ConnectInit, relay)->calls == 1);
  CHECK(h.host.pendingDelays().empty());
}
