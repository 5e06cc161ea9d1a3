#include "common/maildrop/address_list.hpp"

#include <doctest/doctest.h>

using upesi::maildrop::splitAddressList;
using Addresses = std::vector<std::string>;

TEST_CASE("address list: the forms cron, mail(1) and scripts write") {
  CHECK(splitAddressList("root") == Addresses{"root"});
  CHECK(splitAddressList("root (Cron Daemon)") == Addresses{"root"});
  CHECK(splitAddressList("Jo Bloggs <jo@example.org>") == Addresses{"jo@example.org"});
  CHECK(splitAddressList("a@example.org, b@example.org,c") ==
        Addresses{"a@example.org", "b@example.org", "c"});
  CHECK(splitAddressList("\"Bloggs, Jo\" <jo@example.org>, x@example.org") ==
        Addresses{"jo@example.org", "x@example.org"});
  CHECK(splitAddressList("team: a@example.org, b@example.org;, c@example.org") ==
        Addresses{"a@example.org", "b@example.org", "c@example.org"});
  CHECK(splitAddressList("undisclosed-recipients:;").empty());
  CHECK(splitAddressList("<@relay.example:jo@example.org>") == Addresses{"jo@example.org"});
  CHECK(splitAddressList("\"jo smith\"@example.org") == Addresses{"\"jo smith\"@example.org"});
  CHECK(splitAddressList("a@example.org (x, (nested) y), b@example.org") ==
        Addresses{"a@example.org", "b@example.org"});
}

TEST_CASE("address list: at most `max` addresses") {
  CHECK(splitAddressList("a,b,c,d", 2) == Addresses{"a", "b"});
  CHECK(splitAddressList("").empty());
  CHECK(splitAddressList(" , ,").empty());
}
