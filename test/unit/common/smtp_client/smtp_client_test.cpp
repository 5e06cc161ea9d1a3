// SmtpClient through a real libuv loop against a small scripted server on the same loop:
// lifetimes (destroyed inside its callback, close() with an operation in flight), a message
// source that fails, refusals decided before anything is sent.
#include "common/smtp_client/smtp_client.hpp"
#include "test/support/scripted_smtp_server.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <uv.h>

#include <cstring>
#include <memory>
#include <string>

using namespace upesi;
using namespace upesi::smtp_client;

using upesi::test::envelope;
using upesi::test::Loop;
using upesi::test::optionsFor;
using upesi::test::ScriptedServer;

TEST_CASE("smtp_client: send, capabilities, reuse, quit") {
  Loop l;
  ScriptedServer server(&l.loop);
  auto client = std::make_unique<SmtpClient>(&l.loop, optionsFor(server.port));
  bool sent = false;
  client->connect([&](const Status& s) {
    REQUIRE(s.ok());
    CHECK(s.code == 220);
    const auto& caps = client->capabilities();
    CHECK(caps.pipelining);
    CHECK(caps.size);
    CHECK(caps.size_limit == 1000);
    CHECK(caps.auth == std::vector<std::string>{"PLAIN", "LOGIN"});
    CHECK_FALSE(caps.starttls);
    CHECK(client->ready());
    auto e = envelope(2);
    e.size = 20;
    client->send(e, memorySource("Subject: x\r\n\r\nhi\r\n"), [&](const DeliveryResult& r) {
      sent = true;
      CHECK((r.message.outcome == Outcome::Ok));
      CHECK(r.reusable);
      REQUIRE(r.recipients.size() == 2);
      CHECK(r.recipients[1].address == "to1@example.test");
      CHECK(r.recipients[1].status.enhanced == "2.0.0");
      client->quit([&] { client.reset(); });
    });
  });
  uv_run(&l.loop, UV_RUN_DEFAULT);
  CHECK(sent);
  CHECK(server.saw_dot);
  CHECK(server.received.find("MAIL FROM:<from@example.test> SIZE=20\r\nRCPT TO:<to0@example.test>"
                             "\r\nRCPT TO:<to1@example.test>\r\nDATA\r\n") != std::string::npos);
  CHECK(server.received.find("\r\nhi\r\n.\r\nQUIT\r\n") != std::string::npos);
  server.shutdown();
}

TEST_CASE("smtp_client: the next message goes out behind a final dot, before its reply") {
  Loop l;
  ScriptedServer server(&l.loop);
  server.hold_first_dot_reply = true; // answered only once the next command comes
  auto options = optionsFor(server.port);
  options.timeouts.final_dot = std::chrono::seconds(3); // a client that waits fails, not hangs
  auto client = std::make_unique<SmtpClient>(&l.loop, options);
  std::vector<std::string> results;
  client->connect([&](const Status& s) {
    REQUIRE(s.ok());
    CHECK_FALSE(client->acceptsAnother());
    client->send(
        envelope(), memorySource("Subject: one\r\n\r\n1\r\n"),
        [&](const DeliveryResult& r) {
          results.push_back("one " + r.message.reason);
          CHECK_FALSE(r.reusable); // the second message is on it
          CHECK(client->busy());
        },
        [&] {
          CHECK(client->acceptsAnother());
          client->send(envelope(), memorySource("Subject: two\r\n\r\n2\r\n"),
                       [&](const DeliveryResult& r) {
                         results.push_back("two " + r.message.reason);
                         CHECK(r.reusable);
                         client.reset();
                       });
          CHECK_FALSE(client->acceptsAnother()); // one behind at most
        });
  });
  uv_run(&l.loop, UV_RUN_DEFAULT);
  REQUIRE(results.size() == 2);
  CHECK(results[0] == "one 250 2.0.0 queued");
  CHECK(results[1] == "two 250 2.0.0 queued");
  CHECK(server.received.find("\r\n1\r\n.\r\nMAIL FROM:<from@example.test>\r\n") !=
        std::string::npos);
  server.shutdown();
}

TEST_CASE("smtp_client: a connection lost under a pipelined message fails it without a reply") {
  Loop l;
  ScriptedServer server(&l.loop);
  server.hold_first_dot_reply = true;
  server.drop_instead_of_dot_reply = true;
  auto client = std::make_unique<SmtpClient>(&l.loop, optionsFor(server.port));
  std::vector<Status> results;
  client->connect([&](const Status& s) {
    REQUIRE(s.ok());
    client->send(
        envelope(), memorySource("1\r\n"),
        [&](const DeliveryResult& r) { results.push_back(r.message); },
        [&] {
          client->send(envelope(), memorySource("2\r\n"), [&](const DeliveryResult& r) {
            results.push_back(r.message);
            client.reset();
          });
        });
  });
  uv_run(&l.loop, UV_RUN_DEFAULT);
  REQUIRE(results.size() == 2);
  CHECK((results[0].outcome == Outcome::Temporary));
  CHECK(results[0].reason.find("end of data") != std::string::npos);
  CHECK((results[1].outcome == Outcome::Temporary));
  CHECK(results[1].code == 0); // nothing was taken: to try again on another connection
  CHECK(results[1].reason.find("before this message") != std::string::npos);
}

TEST_CASE("smtp_client: a body without a final line end gets one before the dot") {
  Loop l;
  ScriptedServer server(&l.loop);
  auto client = std::make_unique<SmtpClient>(&l.loop, optionsFor(server.port));
  client->connect([&](const Status& s) {
    REQUIRE(s.ok());
    client->send(envelope(), memorySource("no line end"), [&](const DeliveryResult& r) {
      CHECK(r.message.ok());
      client.reset(); // destroyed inside its own callback
    });
  });
  uv_run(&l.loop, UV_RUN_DEFAULT);
  CHECK(server.received.find("no line end\r\n.\r\n") != std::string::npos);
  server.shutdown();
}

TEST_CASE("smtp_client: a source that fails mid-body never gets a dot") {
  Loop l;
  ScriptedServer server(&l.loop);
  auto client = std::make_unique<SmtpClient>(&l.loop, optionsFor(server.port));
  int calls = 0;
  auto source = callbackSource([&](char* buf, std::size_t cap) -> Result<std::size_t> {
    if (++calls == 1) {
      std::string first = "Subject: x\r\n\r\n..\r\n"; // a stuffed "." line
      REQUIRE(cap >= first.size());
      std::memcpy(buf, first.data(), first.size());
      return first.size();
    }
    return Error{"disk on fire"};
  });
  bool done = false;
  client->connect([&](const Status& s) {
    REQUIRE(s.ok());
    client->send(envelope(2), source, [&](const DeliveryResult& r) {
      done = true;
      CHECK((r.message.outcome == Outcome::Temporary));
      CHECK(r.message.reason == "cannot read the message: disk on fire");
      CHECK_FALSE(r.reusable);
      for (const auto& rcpt : r.recipients) {
        CHECK((rcpt.status.outcome == Outcome::Temporary));
      }
      CHECK_FALSE(client->ready());
    });
  });
  uv_run(&l.loop, UV_RUN_DEFAULT);
  CHECK(done);
  CHECK_FALSE(server.saw_dot);
  client.reset();
  server.shutdown();
}

TEST_CASE("smtp_client: refusals decided before anything is sent are not inline") {
  Loop l;
  ScriptedServer server(&l.loop);
  auto client = std::make_unique<SmtpClient>(&l.loop, optionsFor(server.port));
  bool inside = false;
  int results = 0;
  // Not connected yet.
  inside = true;
  client->send(envelope(), memorySource("x\r\n"), [&](const DeliveryResult& r) {
    CHECK_FALSE(inside);
    CHECK(r.message.reason == "connection not ready");
    ++results;
  });
  inside = false;
  client->connect([&](const Status& s) {
    REQUIRE(s.ok());
    auto e = envelope();
    e.size = 5000; // over SIZE 1000
    inside = true;
    client->send(e, memorySource("x\r\n"), [&](const DeliveryResult& r) {
      CHECK_FALSE(inside);
      CHECK((r.message.outcome == Outcome::Permanent));
      CHECK(r.message.enhanced == "5.3.4");
      CHECK(r.reusable);
      ++results;
      auto utf8 = envelope();
      utf8.recipients[0].user = "jos\xc3\xa9";
      utf8.recipients[0].is_utf8 = true;
      client->send(utf8, memorySource("x\r\n"), [&](const DeliveryResult& r2) {
        CHECK((r2.recipients[0].status.outcome == Outcome::Permanent));
        CHECK(r2.recipients[0].status.enhanced == "5.6.7");
        ++results;
        client->close();
      });
    });
    inside = false;
  });
  uv_run(&l.loop, UV_RUN_DEFAULT);
  CHECK(results == 3);
  CHECK(server.mails == 0);
  client.reset();
  server.shutdown();
}

TEST_CASE("smtp_client: close() or destruction with an operation in flight calls nothing") {
  Loop l;
  ScriptedServer server(&l.loop);
  auto client = std::make_unique<SmtpClient>(&l.loop, optionsFor(server.port));
  bool called = false;
  client->connect([&](const Status& s) {
    REQUIRE(s.ok());
    client->send(envelope(), memorySource(std::string(1 << 20, 'x')),
                 [&](const DeliveryResult&) { called = true; });
    client->close();
    CHECK_FALSE(client->ready());
  });
  uv_run(&l.loop, UV_RUN_DEFAULT);
  CHECK_FALSE(called);
  client.reset();
  server.shutdown();

  // Destroyed while the TCP connect is in flight.
  ScriptedServer other(&l.loop);
  auto connecting = std::make_unique<SmtpClient>(&l.loop, optionsFor(other.port));
  connecting->connect([&](const Status&) { called = true; });
  connecting.reset();
  other.shutdown();
  uv_run(&l.loop, UV_RUN_DEFAULT);
  CHECK_FALSE(called);
}

TEST_CASE("smtp_client: bad addresses fail the connect, from the loop") {
  Loop l;
  for (const char* ip : {"999.1.1.1", "not-an-ip", "::zz"}) {
    auto o = optionsFor(25);
    o.ip = ip;
    auto client = std::make_unique<SmtpClient>(&l.loop, o);
    bool inside = true;
    std::string reason;
    client->connect([&](const Status& s) {
      CHECK_FALSE(inside);
      CHECK((s.outcome == Outcome::Temporary));
      reason = s.reason;
    });
    inside = false;
    uv_run(&l.loop, UV_RUN_DEFAULT);
    CHECK(reason == fmt::format("invalid IP address \"{}\"", ip));
  }
}

namespace {

Envelope envelopeWithOptions() {
  auto e = envelope(2);
  e.options.dsn_ret = DsnReturn::Headers;
  e.options.dsn_envid = "a+b c";
  e.options.has_mt_priority = true;
  e.options.mt_priority = -2;
  RcptOptions first;
  first.notify.given = true;
  first.notify.success = true;
  first.notify.failure = true;
  first.orcpt_type = "rfc822";
  first.orcpt_address = "x+y@example.test";
  e.rcpt_options = {first}; // the second recipient has none
  return e;
}

std::string sendOnce(const std::string& extra_ehlo, const Envelope& e) {
  Loop l;
  ScriptedServer server(&l.loop);
  server.extra_ehlo = extra_ehlo;
  auto client = std::make_unique<SmtpClient>(&l.loop, optionsFor(server.port));
  bool sent = false;
  client->connect([&](const Status& s) {
    REQUIRE(s.ok());
    client->send(e, memorySource("x\r\n"), [&](const DeliveryResult& r) {
      sent = true;
      CHECK(r.message.ok());
      client->close();
    });
  });
  uv_run(&l.loop, UV_RUN_DEFAULT);
  CHECK(sent);
  client.reset();
  server.shutdown();
  return server.received;
}

} // namespace

TEST_CASE("smtp_client: DSN and MT-PRIORITY parameters go to a server that offers them") {
  const std::string received =
      sendOnce("250-DSN\r\n250-MT-PRIORITY MIXER\r\n", envelopeWithOptions());
  CHECK(received.find("MAIL FROM:<from@example.test> RET=HDRS ENVID=a+2Bb+20c "
                      "MT-PRIORITY=-2\r\n") != std::string::npos);
  CHECK(received.find("RCPT TO:<to0@example.test> NOTIFY=SUCCESS,FAILURE "
                      "ORCPT=rfc822;x+2By@example.test\r\n") != std::string::npos);
  CHECK(received.find("RCPT TO:<to1@example.test>\r\n") != std::string::npos);
}

TEST_CASE("smtp_client: and none of them to a server that does not") {
  const std::string received = sendOnce("", envelopeWithOptions());
  CHECK(received.find("MAIL FROM:<from@example.test>\r\n") != std::string::npos);
  CHECK(received.find("RCPT TO:<to0@example.test>\r\n") != std::string::npos);
  for (const char* param : {"RET=", "ENVID=", "MT-PRIORITY=", "NOTIFY=", "ORCPT="}) {
    CHECK(received.find(param) == std::string::npos);
  }
}

TEST_CASE("smtp_client: REQUIRETLS is refused with 5.7.30 before MAIL without verified TLS") {
  for (const std::string extra : {"", "250-REQUIRETLS\r\n"}) {
    CAPTURE(extra);
    Loop l;
    ScriptedServer server(&l.loop);
    server.extra_ehlo = extra;
    auto client = std::make_unique<SmtpClient>(&l.loop, optionsFor(server.port));
    bool refused = false;
    client->connect([&](const Status& s) {
      REQUIRE(s.ok());
      auto e = envelope();
      e.options.requiretls = true;
      client->send(e, memorySource("x\r\n"), [&](const DeliveryResult& r) {
        refused = true;
        CHECK((r.message.outcome == Outcome::Permanent));
        CHECK(r.message.enhanced == "5.7.30");
        CHECK(r.message.reason.starts_with("REQUIRETLS support required"));
        CHECK((r.recipients.at(0).status.outcome == Outcome::Permanent));
        client->close();
      });
    });
    uv_run(&l.loop, UV_RUN_DEFAULT);
    CHECK(refused);
    CHECK(server.mails == 0);
    client.reset();
    server.shutdown();
  }
}

TEST_CASE("smtp_client: a server that refuses what follows a final dot (as Haraka does)") {
  Loop l;
  ScriptedServer server(&l.loop);
  server.hold_first_dot_reply = true;
  // Haraka 3.3 (and Upesi, after it) answer 503 to each line sent with the final dot.
  server.answer = [&server](const std::string& line) -> std::string {
    if (server.dots == 1 && server.mails == 1 && line.rfind("QUIT", 0) != 0) {
      return "503 5.5.1 Bad sequence of commands - pipelined after end of DATA\r\n";
    }
    return "";
  };
  auto client = std::make_unique<SmtpClient>(&l.loop, optionsFor(server.port));
  std::vector<DeliveryResult> results;
  bool second_sent = false;
  client->connect([&](const Status& s) {
    REQUIRE(s.ok());
    client->send(
        envelope(), memorySource("1\r\n"), [&](const DeliveryResult& r) { results.push_back(r); },
        [&] {
          second_sent = true;
          client->send(envelope(), memorySource("2\r\n"), [&](const DeliveryResult& r) {
            results.push_back(r);
            client.reset();
          });
        });
  });
  uv_run(&l.loop, UV_RUN_DEFAULT);
  REQUIRE(second_sent);
  REQUIRE(results.size() == 2);
  CHECK(results[0].message.ok());
  // Nothing of the second was taken: a temporary failure, to try again at once elsewhere.
  CHECK((results[1].message.outcome == Outcome::Temporary));
  CHECK(results[1].message.code == 0);
  CHECK(results[1].message.reason.find("pipelined") != std::string::npos);
}
