#include "worker/outbound/retry_schedule.hpp"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

using upesi::outbound::RetrySchedule;

TEST_CASE("retry schedule: Haraka's default is maxTempFailures = 13") {
  const RetrySchedule schedule;
  const std::vector<std::uint64_t> expected = {64,   128,  256,   512,   1024,  2048,
                                               4096, 8192, 16384, 32768, 65536, 131072};
  CHECK(schedule.intervals() == expected);
  std::uint64_t total = 0;
  for (const auto seconds : schedule.intervals()) {
    total += seconds;
  }
  CHECK(total == 262080);
  CHECK(schedule.delayForAttempt(1) == 64);
  CHECK(schedule.delayForAttempt(12) == 131072);
  CHECK(schedule.delayForAttempt(13) == std::nullopt); // the 13th temp failure bounces
  CHECK(schedule.delayForAttempt(0) == std::nullopt);
  CHECK((RetrySchedule::fromMaxTempFailures(13) == schedule));
}

TEST_CASE("retry schedule: maxTempFailures") {
  CHECK(RetrySchedule::fromMaxTempFailures(0).intervals().empty());
  CHECK(RetrySchedule::fromMaxTempFailures(1).intervals().empty());
  CHECK(RetrySchedule::fromMaxTempFailures(3).intervals() == std::vector<std::uint64_t>{64, 128});
  const auto many = RetrySchedule::fromMaxTempFailures(70);
  CHECK(many.intervals().size() == 69);
  CHECK(many.intervals().back() == (std::uint64_t{1} << 63));
  CHECK(RetrySchedule::fromMaxTempFailures(4000000000U).intervals().size() ==
        upesi::outbound::MaxRetryCount);
}

TEST_CASE("retry schedule: temp_fail_intervals") {
  const std::vector<std::pair<std::string, std::vector<std::uint64_t>>> cases = {
      {"1m,5m*2,1h*3", {60, 300, 300, 3600, 3600, 3600}},
      {" 1M , 5m * 2 ,\t1H*3 ", {60, 300, 300, 3600, 3600, 3600}},
      {"30s", {30}},
      {"1d*2", {86400, 86400}},
      {"1.5h", {5400}},
      {"0.5m", {30}},
      {"1s*3", {1, 1, 1}}, // Haraka requires >= 5 s; Upesi allows 1 s
      {"5s", {5}},
      {"none", {}},
      {" NONE ", {}},
  };
  for (const auto& [text, expected] : cases) {
    CAPTURE(text);
    auto schedule = RetrySchedule::parse(text);
    REQUIRE(schedule.ok());
    CHECK(schedule->intervals() == expected);
  }
  auto none = RetrySchedule::parse("none");
  REQUIRE(none.ok());
  CHECK(none->delayForAttempt(1) == std::nullopt);
  auto two = RetrySchedule::parse("10s,20s");
  REQUIRE(two.ok());
  CHECK(two->delayForAttempt(1) == 10);
  CHECK(two->delayForAttempt(2) == 20);
  CHECK(two->delayForAttempt(3) == std::nullopt);
}

TEST_CASE("retry schedule: syntax errors name the bad item") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty"},
      {"   ", "empty"},
      {"1m,,5m", "\"\""},
      {"1m,", "\"\""},
      {"1x", "\"1x\""},
      {"m", "\"m\""},
      {"1m,abc", "\"abc\""},
      {"1m*", "\"1m*\""},
      {"1m*x", "\"1m*x\""},
      {"1m*2*3", "\"1m*2*3\""},
      {"1m*0", "\"1m*0\""},
      {"1m*-1", "\"1m*-1\""},
      {"1m*1.5", "\"1m*1.5\""},
      {"-1m", "\"-1m\""},
      {"0s", "at least 1 s"},
      {"0.5s", "at least 1 s"},
      {"1.2.3s", "\"1.2.3s\""},
      {".s", "\".s\""},
      {"1e3s", "\"1e3s\""},
      {"nones", "\"nones\""},
      {"1000000d", "too long"},
      {"1s*100001", "count must be"},
      {"1s*60000,1s*60000", "more than"},
  };
  for (const auto& [text, fragment] : cases) {
    CAPTURE(text);
    auto schedule = RetrySchedule::parse(text);
    REQUIRE_FALSE(schedule.ok());
    CHECK(schedule.error().find("temp_fail_intervals") != std::string::npos);
    CHECK(schedule.error().find(fragment) != std::string::npos);
  }
}
