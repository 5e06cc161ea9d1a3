#include "common/smtp/envelope_params.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace upesi;
using namespace upesi::smtp;

TEST_CASE("xtext: decodes hexchars and refuses what is not xtext") {
  CHECK(*decodeXtext("abc") == "abc");
  CHECK(*decodeXtext("a+2Bb+3Dc") == "a+b=c");
  CHECK(*decodeXtext("rfc+20822") == "rfc 822");
  CHECK(*decodeXtext("+2b") == "+"); // lower-case hex read as meant
  CHECK(*decodeXtext("") == "");
  for (const std::string bad : {"+", "+4", "a+", "+ZZ", "+4G", "a b", "a=b", "\x80", "\t"}) {
    CAPTURE(bad);
    CHECK_FALSE(decodeXtext(bad).ok());
  }
  // Decoded control characters would break out of a DSN header field.
  CHECK_FALSE(decodeXtext("a+0D+0Ab").ok());
  CHECK_FALSE(decodeXtext("+00").ok());
  CHECK_FALSE(decodeXtext("+FF").ok());
  CHECK_FALSE(decodeXtext("+7F").ok());
}

TEST_CASE("xtext: encode round-trips") {
  CHECK(encodeXtext("a+b=c d") == "a+2Bb+3Dc+20d");
  const std::string text = "user+tag=x@example.com";
  CHECK(*decodeXtext(encodeXtext(text)) == text);
}

TEST_CASE("RET") {
  CHECK(*parseDsnRet("FULL") == DsnReturn::Full);
  CHECK(*parseDsnRet("hdrs") == DsnReturn::Headers);
  CHECK_FALSE(parseDsnRet("").ok());
  CHECK_FALSE(parseDsnRet("HEADERS").ok());
  CHECK(parseDsnRet("X").error() == "RET must be FULL or HDRS");
}

TEST_CASE("ENVID: xtext, at most 100 characters as sent") {
  CHECK(*parseDsnEnvid("QQ314159+2Bx") == "QQ314159+x");
  CHECK(parseDsnEnvid(std::string(100, 'a')).ok());
  CHECK(parseDsnEnvid(std::string(101, 'a')).error() == "ENVID longer than 100 characters");
  CHECK_FALSE(parseDsnEnvid("").ok());
  CHECK_FALSE(parseDsnEnvid("a+0Ab").ok());
  CHECK_FALSE(parseDsnEnvid("+Q1").ok());
}

TEST_CASE("NOTIFY: NEVER alone, or SUCCESS, FAILURE, DELAY once each") {
  auto n = parseDsnNotify("success,FAILURE");
  REQUIRE(n.ok());
  CHECK(n->given);
  CHECK(n->success);
  CHECK(n->failure);
  CHECK_FALSE(n->delay);
  CHECK(formatDsnNotify(*n) == "SUCCESS,FAILURE");
  CHECK(formatDsnNotify(*parseDsnNotify("DELAY,SUCCESS")) == "SUCCESS,DELAY");
  CHECK(formatDsnNotify(*parseDsnNotify("never")) == "NEVER");
  CHECK(formatDsnNotify(DsnNotify{}).empty());
  CHECK(parseDsnNotify("NEVER,SUCCESS").error() ==
        "NOTIFY=NEVER cannot be combined with other values");
  CHECK(parseDsnNotify("SUCCESS,SUCCESS").error() == "NOTIFY names SUCCESS twice");
  for (const std::string bad :
       {"", ",", "SUCCESS,", ",FAILURE", "ALWAYS", "SUCCESS,,DELAY", "NEVER,NEVER"}) {
    CAPTURE(bad);
    CHECK_FALSE(parseDsnNotify(bad).ok());
  }
}

TEST_CASE("NOTIFY: what is reported") {
  DsnNotify none;
  CHECK(none.wantsFailure());
  CHECK(none.wantsDelay());
  CHECK_FALSE(none.wantsSuccess());
  auto never = *parseDsnNotify("NEVER");
  CHECK_FALSE(never.wantsFailure());
  CHECK_FALSE(never.wantsDelay());
  CHECK_FALSE(never.wantsSuccess());
  auto success = *parseDsnNotify("SUCCESS");
  CHECK_FALSE(success.wantsFailure());
  CHECK(success.wantsSuccess());
}

TEST_CASE("ORCPT: addr-type;xtext, at most 500 characters as sent") {
  RcptOptions options;
  REQUIRE(parseDsnOrcpt("rfc822;a+2Bb@example.com", options).ok());
  CHECK(options.orcpt_type == "rfc822");
  CHECK(options.orcpt_address == "a+b@example.com");
  RcptOptions other;
  CHECK(parseDsnOrcpt("rfc822;" + std::string(493, 'a'), other).ok());
  CHECK(parseDsnOrcpt("rfc822;" + std::string(494, 'a'), other).error() ==
        "ORCPT longer than 500 characters");
  for (const std::string bad : {"", "rfc822", ";a@b", "rfc822;", "rfc 822;a@b", "rfc822;a+0Db",
                                "rfc(822);a@b", "rfc822;a+4"}) {
    CAPTURE(bad);
    RcptOptions o;
    CHECK_FALSE(parseDsnOrcpt(bad, o).ok());
    CHECK(o.orcpt_type.empty());
  }
}

TEST_CASE("MT-PRIORITY: -9 to 9") {
  CHECK(*parseMtPriority("0") == 0);
  CHECK(*parseMtPriority("9") == 9);
  CHECK(*parseMtPriority("+3") == 3);
  CHECK(*parseMtPriority("-9") == -9);
  for (const std::string bad : {"", "10", "-10", "+", "-", "a", "1.0", "--1", "+-1", " 1"}) {
    CAPTURE(bad);
    CHECK_FALSE(parseMtPriority(bad).ok());
  }
  CHECK(isMtPriorityPolicy("MIXER"));
  CHECK(isMtPriorityPolicy("STANAG4406"));
  CHECK(isMtPriorityPolicy("NSEP"));
  CHECK_FALSE(isMtPriorityPolicy("mixer"));
  CHECK_FALSE(isMtPriorityPolicy(""));
}
