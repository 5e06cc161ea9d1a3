#include "test/support/fake_connection.hpp"
#include "test/support/plugin_harness.hpp"

#include <doctest/doctest.h>

using namespace upesi;
using namespace upesi::test;

namespace {

// As the core does: the recipient is on the list while rcpt runs, open to rewriting
// (HookParams::recipient), and the list follows a rewrite.
std::shared_ptr<Answer> rcpt(PluginHarness& h, FakeConnection& c, const Address& address) {
  c.txn().rcptTo().push_back(address);
  const std::size_t index = c.txn().rcptTo().size() - 1;
  Address recipient = address;
  HookParams params;
  params.address = &recipient;
  params.recipient = &recipient;
  auto answer = h.call(Hook::Rcpt, c, params);
  if (index < c.txn().rcptTo().size()) {
    c.txn().rcptTo()[index] = recipient;
  }
  return answer;
}

std::vector<std::string> recipients(FakeConnection& c) {
  std::vector<std::string> out;
  for (const auto& a : c.txn().rcptTo()) {
    out.push_back(a.address());
  }
  return out;
}

} // namespace

TEST_CASE("plugins/aliases: an alias rewrites the recipient in place and a list grows once "
          "accepted") {
  PluginHarness h("aliases");
  h.host.writeConfig("aliases.json", R"({
    "sales@example.com": {"action": "alias", "to": ["alice@example.com", "bob", "alice@example.com"]},
    "info": {"action": "alias", "to": "carol@other.org"}
  })");
  h.host.writeConfig("smtp.ini", "[main]\nmax_recipients=3\n");
  h.load();
  REQUIRE(h.count(Hook::Rcpt) == 1);
  REQUIRE(h.count(Hook::RcptOk) == 1);
  REQUIRE(h.count(Hook::Queue) == 1);

  FakeConnection c;
  c.begin(makeAddress("x", "remote.net"));
  auto answer = rcpt(h, c, makeAddress("Sales", "example.com"));
  CHECK(answer->name() == "CONT");
  CHECK(recipients(c) == std::vector<std::string>{"alice@example.com"});
  // rcpt_ok sees the recipient as rewritten.
  CHECK(h.callWith(Hook::RcptOk, c, makeAddress("alice", "example.com"))->name() == "CONT");
  // Duplicates are added once.
  CHECK(recipients(c) == std::vector<std::string>{"alice@example.com", "bob@example.com"});
  CHECK(c.txn().results().has("aliases", "pass", "alias"));
  CHECK(c.txn().notes()["forward"] == true);
  CHECK_FALSE(c.txn().notes().contains("queue"));

  // Another domain: the message wants outbound delivery.
  rcpt(h, c, makeAddress("info", "example.com"));
  CHECK(recipients(c).back() == "carol@other.org");
  CHECK(c.txn().notes()["queue"]["wants"] == "outbound");
}

TEST_CASE("plugins/aliases: a list alias adds no more than the recipient limit") {
  PluginHarness h("aliases");
  h.host.writeConfig("aliases.json",
                     R"({"all": {"action": "alias", "to": ["a", "b", "c", "d", "e"]}})");
  h.host.writeConfig("smtp.ini", "[main]\nmax_recipients=3\n");
  h.load();
  FakeConnection c;
  c.begin();
  rcpt(h, c, makeAddress("all", "example.com"));
  h.callWith(Hook::RcptOk, c, makeAddress("a", "example.com"));
  CHECK(recipients(c).size() == 3);
  CHECK(h.host.logged("2 targets left out"));
  CHECK(c.txn().results().has("aliases", "msg", "2 targets over max_recipients"));
}

TEST_CASE("plugins/aliases: a list alias refused after rcpt adds nothing") {
  PluginHarness h("aliases");
  h.host.writeConfig("aliases.json", R"({"all": {"action": "alias", "to": ["a", "b"]}})");
  h.load();
  FakeConnection c;
  c.begin();
  rcpt(h, c, makeAddress("all", "example.com"));
  c.txn().rcptTo().pop_back(); // refused by a later plugin
  // The next recipient's rcpt forgets the pending targets; its rcpt_ok adds none.
  rcpt(h, c, makeAddress("zed", "example.com"));
  h.callWith(Hook::RcptOk, c, makeAddress("zed", "example.com"));
  CHECK(recipients(c) == std::vector<std::string>{"zed@example.com"});
}

TEST_CASE("plugins/aliases: drop removes only that recipient; all dropped discards") {
  PluginHarness h("aliases");
  h.host.writeConfig("aliases.json", R"({"test1": {"action": "drop"}, "x": {"action": "bogus"},
                                         "y": {"action": "alias"}})");
  h.load();
  FakeConnection c;
  c.begin();
  CHECK(rcpt(h, c, makeAddress("test1+news", "example.com"))->name() == "CONT");
  CHECK(h.host.logged("marking test1+news@example.com for drop"));
  rcpt(h, c, makeAddress("keep", "example.com"));
  CHECK(h.call(Hook::Queue, c)->name() == "CONT");
  CHECK(recipients(c) == std::vector<std::string>{"keep@example.com"});
  CHECK(c.txn().results().has("aliases", "pass", "drop"));

  FakeConnection all;
  all.begin();
  rcpt(h, all, makeAddress("test1", "example.com"));
  CHECK(h.call(Hook::Queue, all)->name() == "OK");
  CHECK(all.txn().results().has("aliases", "pass", "discarded"));

  FakeConnection other;
  other.begin();
  rcpt(h, other, makeAddress("x", "example.com"));
  CHECK(h.host.logged("unknown action: bogus"));
  rcpt(h, other, makeAddress("y", "example.com"));
  CHECK(h.host.logged("alias failed for y, no \"to\" field in alias config"));
  CHECK(recipients(other) == std::vector<std::string>{"x@example.com", "y@example.com"});
}

TEST_CASE("plugins/aliases: aliases.json is read again when it changes") {
  PluginHarness h("aliases");
  h.host.writeConfig("aliases.json", R"({"a": {"action": "alias", "to": "one"}})");
  h.load();
  FakeConnection c;
  c.begin();
  rcpt(h, c, makeAddress("a", "example.com"));
  CHECK(recipients(c).back() == "one@example.com");
  h.host.writeConfig("aliases.json", R"({"a": {"action": "alias", "to": "two"}})");
  h.host.changed("aliases.json");
  rcpt(h, c, makeAddress("a", "example.com"));
  CHECK(recipients(c).back() == "two@example.com");
}
