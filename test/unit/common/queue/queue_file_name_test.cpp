#include "common/queue/queue_file_name.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

using upesi::queue::escapeHost;
using upesi::queue::isErrorName;
using upesi::queue::isTempName;
using upesi::queue::nextCounter;
using upesi::queue::QueueFileName;
using upesi::queue::randomUid;

namespace {

bool isUid(const std::string& uid) {
  if (uid.size() != 6) {
    return false;
  }
  for (const char c : uid) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum) {
      return false;
    }
  }
  return true;
}

} // namespace

TEST_CASE("queue file name: a 7-field name parses and formats back") {
  const std::string text = "1795418532514_1795418532999_3_30418_09H91d_17_vm";
  auto name = QueueFileName::parse(text, 5);
  REQUIRE(name.ok());
  CHECK(name->arrival_ms == 1795418532514);
  CHECK(name->next_attempt_ms == 1795418532999);
  CHECK(name->attempts == 3);
  CHECK(name->pid == 30418);
  CHECK(name->uid == "09H91d");
  CHECK(name->counter == 17);
  CHECK(name->host == "vm");
  CHECK_FALSE(name->legacy);
  CHECK(name->format() == text);
}

TEST_CASE("queue file name: escaped host field is kept as it is") {
  const std::string text = "1_2_0_7_abcDEF_0_mx\\137a\\072b\\057c.example";
  auto name = QueueFileName::parse(text, 0);
  REQUIRE(name.ok());
  CHECK(name->host == "mx\\137a\\072b\\057c.example");
  CHECK(name->format() == text);
  // An empty host (os.hostname() can be empty) is allowed.
  CHECK(QueueFileName::parse("1_2_0_7_abcDEF_0_", 0).ok());
}

TEST_CASE("queue file name: legacy 4-field name") {
  auto name = QueueFileName::parse("1484878079415_2_12345_8888.mta1.example.com", 1700000000000);
  REQUIRE(name.ok());
  CHECK(name->legacy);
  CHECK(name->arrival_ms == 1700000000000);
  CHECK(name->next_attempt_ms == 1484878079415);
  CHECK(name->attempts == 2);
  CHECK(name->pid == 12345);
  CHECK(isUid(name->uid));
  CHECK(name->counter <= 10000);
  CHECK(name->host == "mta1.example.com");
  const std::string renamed = name->format();
  CHECK(renamed.starts_with("1700000000000_1484878079415_2_12345_" + name->uid + "_"));
  CHECK(renamed.ends_with("_mta1.example.com"));
  auto again = QueueFileName::parse(renamed, 0);
  REQUIRE(again.ok());
  CHECK_FALSE(again->legacy);
  // Without the clock argument, "now" is used.
  auto now = QueueFileName::parse("1_0_1_2.h");
  REQUIRE(now.ok());
  CHECK(now->arrival_ms > 1600000000000);
}

TEST_CASE("queue file name: anything else is rejected with a reason") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "fields"},
      {"README", "1 '_'-separated fields"},
      {"1_2_3", "3 '_'-separated fields"},
      {"1_2_3_4_5", "5 '_'-separated fields"},
      {"1_2_0_7_abcDEF_0_host_extra", "8 '_'-separated fields"},
      {"x_2_0_7_abcDEF_0_h", "arrival is not a number"},
      {"-1_2_0_7_abcDEF_0_h", "arrival is not a number"},
      {"1_+2_0_7_abcDEF_0_h", "next attempt is not a number"},
      {"1_2__7_abcDEF_0_h", "attempts is not a number"},
      {"1_2_4294967296_7_abcDEF_0_h", "attempts is out of range"},
      {"1_2_0_7x_abcDEF_0_h", "pid is not a number"},
      {"1_2_0_7__0_h", "uid"},
      {"1_2_0_7_abc-EF_0_h", "uid"},
      {"1_2_0_7_abcDEF_ 1_h", "counter is not a number"},
      {"99999999999999999999_2_0_7_abcDEF_0_h", "arrival is out of range"},
      {"1_2_0_7_abcDEF_0_a/b", "bad host"},
      {std::string("1_2_0_7_abcDEF_0_a\0b", 20), "bad host"},
      {"1_0_1_2mta1", "without '.<host>'"},
      {"1_0_1_x.mta1", "unique number is not a number"},
      {"a_0_1_2.mta1", "next attempt is not a number"},
      {"__tmp__.1_2_0_7_abcDEF_0_h", "temporary or error"},
      {"error.1_2_0_7_abcDEF_0_h", "temporary or error"},
  };
  for (const auto& [text, reason] : cases) {
    CAPTURE(text);
    auto name = QueueFileName::parse(text, 0);
    REQUIRE_FALSE(name.ok());
    CHECK(name.error().find(reason) != std::string::npos);
  }
}

TEST_CASE("queue file name: temp and error prefixes") {
  CHECK(isTempName("__tmp__.1_2_0_7_abcDEF_0_h"));
  CHECK_FALSE(isTempName("__tmp_.x"));
  CHECK_FALSE(isTempName("1_2_0_7_abcDEF_0_h"));
  CHECK(isErrorName("error.1_2_0_7_abcDEF_0_h"));
  CHECK_FALSE(isErrorName("errors"));
}

TEST_CASE("queue file name: escapeHost") {
  CHECK(escapeHost("mx.example.com") == "mx.example.com");
  CHECK(escapeHost("mx_a:b\\c") == "mx\\137a\\072b\\057c");
  CHECK(escapeHost("__") == "\\137\\137");
  CHECK(escapeHost("") == "");
}

TEST_CASE("queue file name: makeNew") {
  const auto name = QueueFileName::makeNew(1795418532514, 4242, "mx_1.example");
  CHECK(name.arrival_ms == 1795418532514);
  CHECK(name.next_attempt_ms == 1795418532514);
  CHECK(name.attempts == 0);
  CHECK(name.pid == 4242);
  CHECK(isUid(name.uid));
  CHECK(name.host == "mx\\1371.example");
  auto parsed = QueueFileName::parse(name.format(), 0);
  REQUIRE(parsed.ok());
  CHECK((*parsed == name));
  // Two new names in the same millisecond differ (counter, uid).
  const auto other = QueueFileName::makeNew(1795418532514, 4242, "mx_1.example");
  CHECK(other.format() != name.format());
}

TEST_CASE("queue file name: retryName keeps arrival, uid and the escaped host") {
  auto name = QueueFileName::parse("1000_1000_0_30418_09H91d_1_mx\\137a", 0);
  REQUIRE(name.ok());
  const auto retry = name->retryName(65000, 1, 777);
  CHECK(retry.arrival_ms == 1000);
  CHECK(retry.next_attempt_ms == 65000);
  CHECK(retry.attempts == 1);
  CHECK(retry.pid == 777);
  CHECK(retry.uid == "09H91d");
  CHECK(retry.host == "mx\\137a"); // not "mx\057137a" as Haraka writes
  CHECK(retry.format().starts_with("1000_65000_1_777_09H91d_"));
  CHECK(retry.format().ends_with("_mx\\137a"));
}

TEST_CASE("queue file name: counter counts 1..10000 then wraps to 0") {
  std::uint32_t previous = nextCounter();
  bool wrapped = false;
  for (int i = 0; i < 10002; ++i) {
    const std::uint32_t next = nextCounter();
    REQUIRE(next <= 10000);
    if (previous == 10000) {
      CHECK(next == 0);
      wrapped = true;
    } else {
      CHECK(next == previous + 1);
    }
    previous = next;
  }
  CHECK(wrapped);
}

TEST_CASE("queue file name: random uids") {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    const auto uid = randomUid();
    CHECK(isUid(uid));
    seen.insert(uid);
  }
  CHECK(seen.size() > 190); // 62^6 possibilities: collisions are vanishingly rare
}
