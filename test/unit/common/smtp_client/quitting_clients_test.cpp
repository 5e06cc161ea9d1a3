// QuittingClients: a client handed over says QUIT and is freed after the reply; those still
// waiting are freed by dropAll() or the destructor, so the loop closes clean (Loop checks).
#include "common/smtp_client/quitting_clients.hpp"
#include "test/support/scripted_smtp_server.hpp"

#include <doctest/doctest.h>
#include <uv.h>

#include <memory>
#include <string>

using namespace upesi::smtp_client;
using upesi::test::Loop;
using upesi::test::optionsFor;
using upesi::test::ScriptedServer;

namespace {

// A client connected to `server`, ready for QUIT.
std::unique_ptr<SmtpClient> connectedClient(Loop& l, ScriptedServer& server) {
  auto client = std::make_unique<SmtpClient>(&l.loop, optionsFor(server.port));
  bool connected = false;
  client->connect([&](const Status& s) { connected = s.ok(); });
  while (!connected && uv_run(&l.loop, UV_RUN_ONCE) != 0) {
  }
  REQUIRE(connected);
  REQUIRE(client->ready());
  return client;
}

void runUntilQuitArrives(Loop& l, const ScriptedServer& server) {
  while (server.received.find("QUIT\r\n") == std::string::npos &&
         uv_run(&l.loop, UV_RUN_ONCE) != 0) {
  }
  REQUIRE(server.received.find("QUIT\r\n") != std::string::npos);
}

} // namespace

TEST_CASE("quitting clients: QUIT, then the client is freed after the server's reply") {
  Loop l;
  ScriptedServer server(&l.loop);
  QuittingClients quitting;
  quitting.quitAndRelease(connectedClient(l, server));
  CHECK(quitting.size() == 1);
  uv_run(&l.loop, UV_RUN_DEFAULT);
  CHECK(server.received.find("QUIT\r\n") != std::string::npos);
  CHECK(quitting.size() == 0);
  server.shutdown();
}

TEST_CASE("quitting clients: those still waiting for the reply are dropped, not leaked") {
  Loop l;
  ScriptedServer server(&l.loop);
  server.answers_quit = false;
  SUBCASE("by dropAll()") {
    QuittingClients quitting;
    quitting.quitAndRelease(connectedClient(l, server));
    runUntilQuitArrives(l, server);
    CHECK(quitting.size() == 1);
    quitting.dropAll();
    CHECK(quitting.size() == 0);
  }
  SUBCASE("by the destructor") {
    auto quitting = std::make_unique<QuittingClients>();
    quitting->quitAndRelease(connectedClient(l, server));
    runUntilQuitArrives(l, server);
    quitting.reset();
  }
  server.shutdown();
}

TEST_CASE("quitting clients: a client that is not ready is closed at once") {
  Loop l;
  QuittingClients quitting;
  quitting.quitAndRelease(std::make_unique<SmtpClient>(&l.loop, optionsFor(1)));
  quitting.quitAndRelease(nullptr);
  CHECK(quitting.size() == 0);
}
