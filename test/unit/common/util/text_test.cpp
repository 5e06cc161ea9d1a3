#include "common/util/text.hpp"

#include <doctest/doctest.h>

using upesi::editDistance;
namespace text = upesi::text;

TEST_CASE("ASCII case: letters only, whatever the locale") {
  CHECK(text::toLower("MAIL FROM:<A@B.C> \xc3\x89") == "mail from:<a@b.c> \xc3\x89");
  CHECK(text::toUpper("ehlo x-\xe9") == "EHLO X-\xe9");
  CHECK(text::toLower('@') == '@');
  CHECK(text::toUpper('[') == '[');
  static_assert(text::equalsIgnoreCase("Content-Type", "content-TYPE"));
  CHECK_FALSE(text::equalsIgnoreCase("abc", "abcd"));
  CHECK_FALSE(text::equalsIgnoreCase("\xc3\xa9", "\xc3\x89")); // not ASCII: compared as is
  CHECK(text::startsWithIgnoreCase("AUTH=PLAIN", "auth="));
  CHECK_FALSE(text::startsWithIgnoreCase("AU", "auth"));
}

TEST_CASE("trim and Haraka's truthiness") {
  CHECK(text::trim(" \t a b \r\n") == "a b");
  CHECK(text::trim(" \t ").empty());
  for (const char* yes : {"true", "YES", " ok ", "Enabled", "on", "1"}) {
    CHECK(text::isTruthy(yes));
  }
  for (const char* no : {"false", "no", "0", "", "off", "truthy", "2"}) {
    CHECK_FALSE(text::isTruthy(no));
  }
}

TEST_CASE("splitList: commas, spaces and both") {
  CHECK(text::splitList("a,b,c") == std::vector<std::string>{"a", "b", "c"});
  CHECK(text::splitList("PLAIN LOGIN") == std::vector<std::string>{"PLAIN", "LOGIN"});
  CHECK(text::splitList(" 587 , 465,,\t") == std::vector<std::string>{"587", "465"});
  CHECK(text::splitList("").empty());
  CHECK(text::splitList(", ,").empty());
}

TEST_CASE("splitList: other separators") {
  CHECK(text::splitList("a;b c", ",; ") == std::vector<std::string>{"a", "b", "c"});
  CHECK(text::splitList("host:25, other", ",") == std::vector<std::string>{"host:25", "other"});
}

TEST_CASE("editDistance: typos, swaps and case") {
  CHECK(editDistance("listen", "listen") == 0);
  CHECK(editDistance("listne", "listen") == 1); // two neighbours swapped
  CHECK(editDistance("lisen", "listen") == 1);
  CHECK(editDistance("max_mesage_size", "max_message_size") == 1);
  CHECK(editDistance("MaxTempFailures", "maxTempFailures") == 0);
  CHECK(editDistance("", "abc") == 3);
  CHECK(editDistance("nodes", "") == 5);
  CHECK(editDistance("kitten", "sitting") == 3);
}
