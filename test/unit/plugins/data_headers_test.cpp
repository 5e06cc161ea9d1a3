#include "plugins/headers/header_checks.hpp"
#include "test/support/fake_connection.hpp"
#include "test/support/plugin_harness.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <ctime>

using namespace upesi;
using namespace upesi::test;

namespace {
// The first non-CONT answer of the data_post checks, run in order as the chain would.
std::string checkDataHeaders(PluginHarness& h, FakeConnection& c) {
  return h.firstAnswer(Hook::DataPost, c);
}

std::string rfcDate(std::int64_t offset_seconds) {
  std::time_t t = std::time(nullptr) + offset_seconds;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

FakeTransaction& message(FakeConnection& c,
                         std::vector<std::pair<std::string, std::string>> headers) {
  auto& txn = c.begin(makeAddress("s", "example.com"));
  txn.header_lines = std::move(headers);
  return txn;
}
} // namespace

TEST_CASE("plugins/data.headers: RFC 5322 dates") {
  using upesi::plugins::headers::parseDate;
  CHECK(parseDate("Thu, 01 Jan 1970 00:00:00 +0000") == 0);
  CHECK(parseDate("1 Jan 1970 01:00 +0100") == 0);
  CHECK(parseDate("Fri, 2 Jan 1970 00:00:00 -0130") == 86400 + 5400);
  CHECK(parseDate("Mon, 23 Nov 2026 10:20:07 +0000 (UTC)") == 1795429207);
  CHECK(parseDate("Mon, 23 Nov 26 10:20:07 GMT") == 1795429207);
  CHECK(parseDate("Mon, 23 Nov 2026 05:20:07 EST") == 1795429207);
  CHECK_FALSE(parseDate("yesterday"));
  CHECK_FALSE(parseDate("Mon, 32 Nov 2026 10:20:07 +0000"));
  CHECK_FALSE(parseDate("Mon, 23 Foo 2026 10:20:07 +0000"));
  CHECK_FALSE(parseDate("Mon, 23 Nov 2026 25:20:07 +0000"));
  CHECK_FALSE(parseDate("Mon, 23 Nov 2026 10:20:07 +00x0"));
  CHECK_FALSE(parseDate(""));
  CHECK_FALSE(parseDate(std::string(500, '1')));
}

TEST_CASE("plugins/data.headers: duplicate singular fields are rejected by default") {
  PluginHarness h("data.headers");
  h.load();
  REQUIRE(h.count(Hook::DataPost) == 10);
  FakeConnection c;
  auto& txn = message(
      c, {{"Date", rfcDate(0)}, {"From", "a@example.com"}, {"Subject", "one"}, {"subject", "two"}});
  CHECK(checkDataHeaders(h, c) ==
        "DENY Only one Subject header allowed. See RFC 5322, Section 3.6");
  CHECK(txn.results().has("data.headers", "fail", "duplicate:Subject"));

  FakeConnection ok;
  auto& good = message(
      ok,
      {{"Date", rfcDate(0)}, {"From", "a@example.com"}, {"Received", "one"}, {"Received", "two"}});
  CHECK(checkDataHeaders(h, ok) == "CONT");
  CHECK(good.results().has("data.headers", "pass", "duplicate"));
  CHECK(good.results().has("data.headers", "pass", "missing"));
}

TEST_CASE("plugins/data.headers: missing fields are recorded, rejected when configured") {
  PluginHarness h("data.headers");
  h.host.writeConfig("data.headers.ini", "[reject]\nduplicate_singular=false\n");
  h.load();
  FakeConnection c;
  auto& txn = message(c, {{"From", "a@example.com"}, {"To", "x"}, {"To", "y"}});
  CHECK(checkDataHeaders(h, c) == "CONT");
  CHECK(txn.results().has("data.headers", "fail", "missing:Date"));
  CHECK(txn.results().has("data.headers", "fail", "duplicate:To"));

  h.host.writeConfig("data.headers.ini",
                     "required=From,Date,Message-Id\n[reject]\nmissing_required=true\n");
  h.host.changed("data.headers.ini");
  FakeConnection c2;
  message(c2, {{"From", "a@example.com"}, {"Date", rfcDate(0)}});
  CHECK(checkDataHeaders(h, c2) == "DENY Required header 'Message-Id' missing");
}

TEST_CASE("plugins/data.headers: invalid_date when switched on") {
  PluginHarness h("data.headers");
  h.host.writeConfig("data.headers.ini",
                     "[check]\ninvalid_date=true\n[reject]\ninvalid_date=true\n");
  h.load();
  auto verdict = [&](const std::string& date) {
    FakeConnection c;
    message(c, {{"Date", date}, {"From", "a@example.com"}});
    return checkDataHeaders(h, c);
  };
  CHECK(verdict(rfcDate(0)) == "CONT");
  CHECK(verdict(rfcDate(-14 * 86400)) == "CONT");
  CHECK(verdict(rfcDate(3 * 86400)) == "DENY The Date header is too far in the future");
  CHECK(verdict(rfcDate(-16 * 86400)) == "DENY The Date header is too old");
  CHECK(verdict("last tuesday") == "DENY The Date header is not a valid date");

  h.host.writeConfig(
      "data.headers.ini",
      "date_past_days=0\n[check]\ninvalid_date=true\n[reject]\ninvalid_date=false\n");
  h.host.changed("data.headers.ini");
  CHECK(verdict(rfcDate(-400 * 86400)) == "CONT");
  FakeConnection c;
  auto& txn = message(c, {{"Date", rfcDate(5 * 86400)}, {"From", "a@example.com"}});
  CHECK(checkDataHeaders(h, c) == "CONT");
  CHECK(txn.results().has("data.headers", "fail", "invalid_date(future)"));
}

TEST_CASE("plugins/data.headers: every check can be switched off") {
  PluginHarness h("data.headers");
  h.host.writeConfig("data.headers.ini",
                     "[check]\nduplicate_singular=false\nmissing_required=false\n");
  h.load();
  FakeConnection c;
  auto& txn = message(c, {{"Subject", "a"}, {"Subject", "b"}});
  CHECK(checkDataHeaders(h, c) == "CONT");
  CHECK(txn.results().get("data.headers").is_null());
}
