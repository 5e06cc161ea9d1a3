#include "common/util/text.hpp"

#include <doctest/doctest.h>

using upesi::editDistance;
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
