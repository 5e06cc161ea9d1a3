#include "test/support/fake_connection.hpp"
#include "test/support/plugin_harness.hpp"

#include <doctest/doctest.h>

using namespace upesi;
using namespace upesi::test;

TEST_CASE("plugins/record_envelope_addresses: one X-Envelope-To per recipient, and the sender") {
  PluginHarness h("record_envelope_addresses");
  h.load();
  REQUIRE(h.count(Hook::DataPost) == 1);
  FakeConnection c;
  auto& txn = c.begin(makeAddress("alice", "Example.COM"));
  txn.rcpt_to = {makeAddress("bob", "example.net"), makeAddress("carol", "example.org")};
  txn.header_lines = {{"Subject", "hi"}};
  auto a = h.call(Hook::DataPost, c);
  REQUIRE(a->calls == 1);
  CHECK(a->name() == "CONT");
  CHECK(txn.header("X-Envelope-From") == "alice@example.com");
  CHECK(txn.headers("X-Envelope-To") ==
        std::vector<std::string>{"bob@example.net", "carol@example.org"});
  REQUIRE(txn.header_lines.size() == 4);
  CHECK(txn.header_lines[0].first == "X-Envelope-From");
  CHECK(txn.header_lines[1].second == "bob@example.net");
  CHECK(txn.header_lines[3].first == "Subject");
}

TEST_CASE("plugins/record_envelope_addresses: the null sender is written <>") {
  PluginHarness h("record_envelope_addresses");
  h.load();
  FakeConnection c;
  auto& txn = c.begin(nullAddress());
  txn.rcpt_to = {makeAddress("postmaster", "example.net")};
  CHECK(h.call(Hook::DataPost, c)->calls == 1);
  CHECK(txn.header("X-Envelope-From") == "<>");
  CHECK(txn.header("X-Envelope-To") == "postmaster@example.net");
}
