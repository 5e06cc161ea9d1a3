// OutboundEngine on a real loop: messages queued into a temporary queue directory, delivered by
// the engine's own deliveries to a scripted next hop (a get_mx plugin names it), and what the
// engine counts: deliveries by result and domain, attempt times, next-hop connections, and the
// queue gauges.
#include <upesi/next.hpp>

#include "common/util/clock.hpp"
#include "common/util/loop_timer.hpp"
#include "test/support/installed_metrics.hpp"
#include "test/support/scripted_smtp_server.hpp"
#include "test/support/temp_dir.hpp"
#include "worker/outbound/outbound_engine.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <fstream>
#include <functional>
#include <memory>
#include <string>

using namespace upesi;
using namespace upesi::outbound;

namespace {

Address address(std::string user, std::string host) {
  Address a;
  a.original = user + "@" + host;
  a.user = std::move(user);
  a.original_host = host;
  a.host = std::move(host);
  return a;
}

struct EngineTest {
  test::InstalledMetrics metrics; // first: the engine keeps handles into its region
  test::Loop l;
  test::TempDir queue_dir;
  test::ScriptedServer peer{&l.loop};
  std::shared_ptr<plugin::HookTable> hooks = std::make_shared<plugin::HookTable>();
  plugin::HookTable::PluginRegistrar next_hop{*hooks, "next_hop", 0, std::chrono::seconds(5)};
  EngineSettings settings;
  std::unique_ptr<OutboundEngine> engine;

  EngineTest() {
    next_hop.registerHook(
        Hook::GetMx,
        [this](Next next, Connection&, const HookParams&) {
          next(Code::Ok, fmt::format("127.0.0.1:{}", peer.port));
        },
        0, "hook_get_mx");
    peer.answer = [](const std::string& line) -> std::string {
      if (line.find("<nobody@") != std::string::npos) {
        return "550 5.1.1 no such user\r\n";
      }
      if (line.find("<later@") != std::string::npos) {
        return "450 4.2.1 try later\r\n";
      }
      return "";
    };
    settings.config.queue_dir = queue_dir.path();
    settings.config.concurrency_max = 1; // one after the other: the second reuses the connection
    settings.config.disabled = true;     // until the test has seen the queue
    settings.me = "upesi.test";
    settings.hostname = "upesi.test";
    engine = std::make_unique<OutboundEngine>(&l.loop, nullptr, hooks, settings);
  }

  bool runUntil(const std::function<bool()>& done) { return l.runUntil(done); }

  void queue(const Address& from, const Address& to) {
    bool queued = false;
    engine->enqueueMessage(from, {to}, "Subject: test\r\n\r\nhello\r\n", nlohmann::json::object(),
                           [&queued](Code code, const std::string&) {
                             CHECK((code == Code::Ok));
                             queued = true;
                           });
    REQUIRE(runUntil([&] { return queued; }));
  }
};

} // namespace

TEST_CASE("outbound engine: deliveries by result and domain, attempts, connections, the queue") {
  EngineTest t;
  // A file another worker deferred an hour after it arrived, due in an hour.
  const std::int64_t now = epochMs();
  std::ofstream(t.queue_dir.path() /
                fmt::format("{}_{}_3_1_abcdef_1_other", now - 3600 * 1000, now + 3600 * 1000));
  t.engine->start();
  Address null_sender;
  null_sender.is_null = true;
  null_sender.original = "<>";
  t.queue(address("alice", "client.example"), address("ok", "example.net"));
  t.queue(null_sender, address("nobody", "example.net")); // its bounce is a double bounce
  t.queue(address("alice", "client.example"), address("later", "example.net"));

  // Deliveries paused: three due and the old one deferred.
  REQUIRE(t.runUntil([&] { return t.metrics.value("upesi_outbound_queue_files") == "4"; }));
  CHECK(t.metrics.value("upesi_outbound_queue_due_files") == "3");
  CHECK(t.metrics.value("upesi_outbound_queue_deferred_files") == "1");
  const int age = std::stoi(t.metrics.value("upesi_outbound_queue_oldest_age_seconds"));
  CHECK(age >= 3600);
  CHECK(age < 3660);

  t.settings.config.disabled = false;
  t.engine->updateSettings(t.settings);
  REQUIRE(t.runUntil([&] {
    return t.metrics.value("upesi_outbound_queue_files") == "2" && t.engine->inFlight() == 0;
  }));
  CHECK(t.metrics.samples("upesi_outbound_deliveries_total") ==
        "upesi_outbound_deliveries_total{result=\"bounced\"} 1\n"
        "upesi_outbound_deliveries_total{result=\"deferred\"} 1\n"
        "upesi_outbound_deliveries_total{result=\"delivered\"} 1\n");
  CHECK(t.metrics.samples("upesi_outbound_domain_deliveries_total") ==
        "upesi_outbound_domain_deliveries_total{domain=\"example.net\",result=\"bounced\"} 1\n"
        "upesi_outbound_domain_deliveries_total{domain=\"example.net\",result=\"deferred\"} 1\n"
        "upesi_outbound_domain_deliveries_total{domain=\"example.net\",result=\"delivered\"} 1\n");
  CHECK(t.metrics.value("upesi_outbound_delivery_duration_seconds_count") == "3");
  // The first connection serves the second delivery too; a transaction that got no recipient
  // through leaves it unusable, so the third opens another (refused or answered 450 by the
  // peer, done after its first connection: a deferral either way).
  CHECK(t.metrics.value("upesi_outbound_connections_opened_total") == "2");
  CHECK(t.metrics.value("upesi_outbound_connections_reused_total") == "1");
  CHECK(t.metrics.value("upesi_outbound_queue_due_files") == "0");
  CHECK(t.metrics.value("upesi_outbound_queue_deferred_files") == "2");
}
