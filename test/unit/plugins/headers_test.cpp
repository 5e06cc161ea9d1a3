#include "test/support/fake_connection.hpp"
#include "test/support/plugin_harness.hpp"

#include <doctest/doctest.h>

#include <ctime>

using namespace upesi;
using namespace upesi::test;

namespace {

// The first non-CONT answer of the data_post checks, run in order as the chain would.
std::string check(PluginHarness& h, FakeConnection& c) {
  return h.firstAnswer(Hook::DataPost, c);
}

std::string now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

FakeTransaction& message(FakeConnection& c, const Address& from,
                         std::vector<std::pair<std::string, std::string>> headers) {
  auto& txn = c.begin(from);
  txn.header_lines = std::move(headers);
  return txn;
}

bool has(FakeTransaction& txn, const char* key, const char* value) {
  return txn.results().has("headers", key, value);
}

} // namespace

TEST_CASE("plugins/headers: Haraka's defaults record every check and reject only Delivered-To") {
  PluginHarness h("headers");
  h.load();
  REQUIRE(h.count(Hook::DataPost) == 10);
  FakeConnection c;
  auto& txn = message(c, makeAddress("a", "example.com"),
                      {{"From", "a@example.com"},
                       {"Subject", "x"},
                       {"Subject", "y"},
                       {"Date", "not a date"},
                       {"Return-Path", "<forged@example.net>"}});
  CHECK(check(h, c) == "CONT");
  CHECK(has(txn, "fail", "duplicate:Subject"));
  CHECK(has(txn, "pass", "missing"));
  CHECK(has(txn, "fail", "invalid_date(unparseable)"));
  CHECK(has(txn, "pass", "Return-Path"));
  CHECK(txn.headers("Return-Path").empty()); // removed from inbound mail
  CHECK(has(txn, "fail", "UA"));
  CHECK(has(txn, "fail", "direct-to-mx(none)"));
  CHECK(has(txn, "pass", "from_match"));
  CHECK(txn.results().has("headers", "msg", "not MLM"));
  CHECK(has(txn, "pass", "from_phish"));

  FakeConnection loop;
  auto& looped = message(loop, makeAddress("a", "example.com"),
                         {{"From", "a@example.com"}, {"Date", now()}, {"Delivered-To", "b@x.org"}});
  looped.rcptTo().push_back(makeAddress("B", "x.org"));
  CHECK(check(h, loop) == "DENY Invalid Delivered-To header content");
  CHECK(has(looped, "fail", "delivered_to"));
}

TEST_CASE("plugins/headers: each [reject] switch gives Haraka's reply") {
  PluginHarness h("headers");
  h.host.writeConfig("headers.ini", "[reject]\nduplicate_singular=true\nmissing_required=true\n"
                                    "invalid_return_path=true\ninvalid_date=true\n"
                                    "from_phish=true\n[phish_targets]\npaypal=paypal.com\n");
  h.load();
  auto verdict = [&](std::vector<std::pair<std::string, std::string>> headers,
                     bool relaying = false) {
    FakeConnection c;
    c.setRelaying(relaying);
    message(c, makeAddress("a", "example.com"), std::move(headers));
    return check(h, c);
  };
  CHECK(verdict({{"From", "a@example.com"}, {"Date", now()}, {"To", "x"}, {"To", "y"}}) ==
        "DENY Only one To header allowed. See RFC 5322, Section 3.6");
  CHECK(verdict({{"From", "a@example.com"}}) == "DENY Required header 'Date' missing");
  CHECK(verdict({{"From", "a@example.com"}, {"Date", now()}, {"Return-Path", "<a@example.com>"}},
                true) == "DENY outgoing mail must not have a Return-Path header (RFC 5321)");
  CHECK(verdict({{"From", "a@example.com"}, {"Date", "soon"}}) ==
        "DENY The Date header could not be parsed");
  CHECK(verdict({{"From", "\"PayPa| Service\" <help@evil.example>"}, {"Date", now()}}) ==
        "DENY Phishing message appears to impersonate paypal.com");
  CHECK(verdict({{"From", "\"PayPal\" <service@paypal.com>"}, {"Date", now()}}) == "CONT");
  CHECK(verdict({{"From", "a@example.com"}, {"Date", now()}}) == "CONT");
}

TEST_CASE("plugins/headers: from_match, direct_to_mx, user_agent and mailing_list results") {
  PluginHarness h("headers");
  h.load();
  FakeConnection c;
  c.results().add("fcrdns", {{"fcrdns", nlohmann::json::array({"mx.mail.example.com"})}});
  auto& txn = message(c, makeAddress("bounces", "mail.example.com"),
                      {{"From", "News <news@Example.com>"},
                       {"Date", now()},
                       {"Received", "a"},
                       {"Received", "b"},
                       {"X-Mailer", "Apple Mail (2.3654)"},
                       {"X-Mailman-Version", "2.1.39"}});
  CHECK(check(h, c) == "CONT");
  CHECK(has(txn, "pass", "from_match(domain,fcrdns)"));
  CHECK(has(txn, "pass", "direct-to-mx(2)"));
  CHECK(has(txn, "pass", "UA(Apple Mail ()"));
  CHECK(has(txn, "pass", "MLM(mailman)"));

  FakeConnection other;
  auto& mismatch = message(other, makeAddress("a", "one.example"),
                           {{"From", "b@two.example"}, {"Date", now()}, {"Received", "a"}});
  check(h, other);
  CHECK(has(mismatch, "fail", "from_match(one.example / two.example)"));
  CHECK(has(mismatch, "fail", "direct-to-mx(too few Received(1))"));

  FakeConnection bounce;
  auto& null_sender = message(bounce, nullAddress(), {{"From", "<<<"}, {"Date", now()}});
  check(h, bounce);
  CHECK(has(null_sender, "fail", "from_match(null)"));
  CHECK(has(null_sender, "fail", "from_phish(unparseable)"));
}

TEST_CASE("plugins/headers: a phishing brand is forgiven when SPF or DKIM vouch for it") {
  PluginHarness h("headers");
  h.host.writeConfig("headers.ini", "[reject]\nfrom_phish=true\n[phish_targets]\n"
                                    "paypal=paypal.com\n[phish_domains]\nchase.com=true\n");
  h.load();
  CHECK(h.host.logged("deprecated setting"));
  FakeConnection c;
  auto& txn = message(c, makeAddress("a", "relay.example"),
                      {{"From", "PayPal <x@relay.example>"}, {"Date", now()}});
  txn.results().add("dkim", {{"pass", "paypal.com"}});
  CHECK(check(h, c) == "CONT");
  FakeConnection old;
  message(old, makeAddress("a", "x.example"),
          {{"From", "CHASE.COM <x@x.example>"}, {"Date", now()}});
  CHECK(check(h, old) == "DENY Phishing message appears to impersonate chase.com");
}

TEST_CASE("plugins/headers: [check] switches turn checks off, read again on change") {
  PluginHarness h("headers");
  h.load();
  h.host.writeConfig("headers.ini",
                     "[check]\nduplicate_singular=false\nmissing_required=false\n"
                     "invalid_return_path=false\ninvalid_date=false\nuser_agent=false\n"
                     "direct_to_mx=false\nfrom_match=false\ndelivered_to=false\n"
                     "mailing_list=false\nfrom_phish=false\n");
  h.host.changed("headers.ini");
  FakeConnection c;
  auto& txn = message(c, makeAddress("a", "example.com"), {{"Subject", "a"}, {"Subject", "b"}});
  CHECK(check(h, c) == "CONT");
  CHECK(txn.results().get("headers").is_null());
}
