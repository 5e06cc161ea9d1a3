#include "common/util/text.hpp"

#include <doctest/doctest.h>

using upesi::splitList;

TEST_CASE("splitList: commas, spaces and both") {
  CHECK(splitList("a,b,c") == std::vector<std::string>{"a", "b", "c"});
  CHECK(splitList("PLAIN LOGIN") == std::vector<std::string>{"PLAIN", "LOGIN"});
  CHECK(splitList(" 587 , 465,,\t") == std::vector<std::string>{"587", "465"});
  CHECK(splitList("").empty());
  CHECK(splitList(", ,").empty());
}

TEST_CASE("splitList: other separators") {
  CHECK(splitList("a;b c", ",; ") == std::vector<std::string>{"a", "b", "c"});
  CHECK(splitList("host:25, other", ",") == std::vector<std::string>{"host:25", "other"});
}
