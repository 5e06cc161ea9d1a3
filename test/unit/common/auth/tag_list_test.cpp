#include "common/auth/tag_list.hpp"

#include <doctest/doctest.h>

#include <string>

using upesi::auth::parseTagList;
using upesi::auth::withoutWhitespace;

TEST_CASE("tag list: the key record of RFC 6376 appendix C, with folding and a trailing ';'") {
  auto list = parseTagList("v=DKIM1; k=rsa;\r\n p=MIGfMA0GCSqGSIb3\r\n\tDQEBAQUAA4GNADCBiQKBgQ;");
  REQUIRE(list.ok());
  REQUIRE(list.tags.size() == 3);
  CHECK(list.tags[0].first == "v");
  CHECK(*list.find("k") == "rsa");
  CHECK(*list.find("p") == "MIGfMA0GCSqGSIb3 DQEBAQUAA4GNADCBiQKBgQ");
  CHECK(withoutWhitespace(*list.find("p")) == "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQ");
  CHECK_FALSE(list.find("K"));
}

TEST_CASE("tag list: empty values and spaces around '=' are allowed") {
  auto list = parseTagList(" v = DKIM1 ;p=");
  REQUIRE(list.ok());
  CHECK(*list.find("v") == "DKIM1");
  CHECK(*list.find("p") == "");
}

TEST_CASE("tag list: malformed lists are errors naming what is wrong") {
  CHECK(parseTagList("v=1; v=2").error.find("twice") != std::string::npos);
  CHECK(parseTagList("v=1;; k=rsa").error == "an empty tag");
  CHECK(parseTagList("").error == "an empty tag");
  CHECK(parseTagList(";").error == "an empty tag");
  CHECK(parseTagList("v=1; novalue").error.find("no '='") != std::string::npos);
  CHECK(parseTagList("1v=2").error.find("bad tag name") != std::string::npos);
  CHECK(parseTagList("v-x=2").error.find("bad tag name") != std::string::npos);
  CHECK(parseTagList("v=a\nb").error == "a line break that is not folding");
  CHECK(parseTagList("v=a\r\nb").error == "a line break that is not folding");
  CHECK(parseTagList("v=a\r").error == "a line break that is not folding");
  CHECK(parseTagList(std::string("v=a\x7f", 4)).error.find("printable") != std::string::npos);
  CHECK(parseTagList("v=\xc3\xa9").error.find("printable") != std::string::npos);
  CHECK_FALSE(parseTagList("v=1; v=2").ok());
}

TEST_CASE("tag list: the bounds hold") {
  std::string many;
  for (int i = 0; i < 65; ++i) {
    many += "t" + std::to_string(i) + "=x;";
  }
  CHECK(parseTagList(many).error == "more than 64 tags");
  CHECK(parseTagList("p=" + std::string(70000, 'A')).error.find("longer than") !=
        std::string::npos);
  CHECK(parseTagList("p=" + std::string(60000, 'A')).ok());
}
