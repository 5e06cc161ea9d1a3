#include "plugins/bounce/bounce_validation.hpp"
#include "test/support/fake_connection.hpp"
#include "test/support/plugin_harness.hpp"

#include <doctest/doctest.h>

using namespace upesi;
using namespace upesi::test;

namespace {
const std::string BounceSecret = "0123456789abcdef0123456789abcdef";
const char* Ini = "[validation]\nsecret=0123456789abcdef0123456789abcdef\n"
                  "[check]\nhash_validation=true\n";
} // namespace

TEST_CASE("plugins/bounce: mail sent by plugins and relayed mail get the validation hash") {
  PluginHarness h("bounce");
  h.host.writeConfig("bounce.ini", Ini);
  h.load();
  REQUIRE(h.count(Hook::PreSendTransEmail) == 1);
  REQUIRE(h.count(Hook::QueueOutbound) == 1);
  for (Hook hook : {Hook::PreSendTransEmail, Hook::QueueOutbound}) {
    FakeConnection c;
    auto& txn = c.begin(makeAddress("me", "example.com"));
    txn.header_lines = {{"From", " Me <me@example.com>"},
                        {"Date", "Mon, 23 Nov 2026 10:20:07 +0000"},
                        {"Message-ID", "<1@example.com>"},
                        {"X-Haraka-Bounce-Validation", "forged"}};
    CHECK(h.call(hook, c)->name() == "CONT");
    auto hashes = txn.headers("X-Haraka-Bounce-Validation");
    REQUIRE(hashes.size() == 1);
    CHECK(hashes.front() ==
          *plugins::bounce::computeHash("sha256", BounceSecret, "Me <me@example.com>",
                                        "Mon, 23 Nov 2026 10:20:07 +0000", "<1@example.com>"));
  }
  // No hash on bounces, nor without the three fields.
  FakeConnection bounce;
  auto& null_sender = bounce.begin(nullAddress());
  null_sender.header_lines = {{"From", "a@b.c"}, {"Date", "x"}, {"Message-ID", "<2@b.c>"}};
  h.call(Hook::QueueOutbound, bounce);
  CHECK(null_sender.headers("X-Haraka-Bounce-Validation").empty());
  FakeConnection partial;
  auto& no_id = partial.begin(makeAddress("me", "example.com"));
  no_id.header_lines = {{"From", "a@b.c"}, {"Date", "x"}};
  h.call(Hook::QueueOutbound, partial);
  CHECK(no_id.headers("X-Haraka-Bounce-Validation").empty());
}

TEST_CASE("plugins/bounce: no hash without a usable secret") {
  PluginHarness h("bounce");
  h.host.writeConfig("bounce.ini", "[validation]\nsecret=your_generated_secret_here\n"
                                   "[check]\nhash_validation=true\n");
  h.load();
  CHECK(h.host.logged("Bounce validation disabled due to missing secret."));
  FakeConnection c;
  auto& txn = c.begin(makeAddress("me", "example.com"));
  txn.header_lines = {{"From", "a@b.c"}, {"Date", "x"}, {"Message-ID", "<2@b.c>"}};
  h.call(Hook::QueueOutbound, c);
  CHECK(txn.headers("X-Haraka-Bounce-Validation").empty());
}

TEST_CASE("plugins/bounce: isa is recorded and only bounces are judged") {
  PluginHarness h("bounce");
  h.host.writeConfig("bounce.ini", "[reject]\nall_bounces=true\n");
  h.host.writeConfig("bounce_bad_rcpt", "no-reply@example.com\n");
  h.load();
  REQUIRE(h.count(Hook::Mail) == 2);
  FakeConnection c;
  auto& txn = c.begin(nullAddress());
  CHECK(h.callWith(Hook::Mail, c, nullAddress())->name() == "CONT");
  CHECK(txn.results().get("bounce")["isa"] == true);
  CHECK(txn.results().get("bounce")["human"] == "isa: yes");
  auto all = h.call(Hook::Mail, c, {}, 1);
  CHECK(all->text() == "Bounces not accepted here");
  CHECK(txn.results().has("bounce", "fail", "bounces_accepted"));

  FakeConnection sender;
  auto& normal = sender.begin(makeAddress("s", "remote.example"));
  h.callWith(Hook::Mail, sender, makeAddress("s", "remote.example"));
  CHECK(normal.results().get("bounce")["isa"] == false);
  CHECK(h.call(Hook::Mail, sender, {}, 1)->name() == "CONT");
  CHECK(h.callWith(Hook::RcptOk, sender, makeAddress("no-reply", "example.com"))->name() == "CONT");

  // A relaying client's bounces are its own business.
  FakeConnection relay;
  relay.setRelaying(true);
  relay.begin(nullAddress());
  h.callWith(Hook::Mail, relay, nullAddress());
  CHECK(h.call(Hook::Mail, relay, {}, 1)->name() == "CONT");
  CHECK(h.callWith(Hook::RcptOk, relay, makeAddress("no-reply", "example.com"))->name() == "CONT");
  FakeConnection denied;
  denied.begin(nullAddress());
  h.callWith(Hook::Mail, denied, nullAddress());
  auto bad = h.callWith(Hook::RcptOk, denied, makeAddress("No-Reply", "example.com"));
  CHECK(bad->text() == "No-Reply@example.com does not accept bounces");
}
