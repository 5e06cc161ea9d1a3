#include "plugins/headers/header_checks.hpp"

#include <doctest/doctest.h>

#include <map>

using namespace upesi::plugins::headers;

namespace {
HeaderLookup headersOf(std::map<std::string, std::string, std::less<>> fields) {
  return [fields = std::move(fields)](std::string_view name) {
    auto it = fields.find(name);
    return it == fields.end() ? std::string() : it->second;
  };
}
} // namespace

TEST_CASE("plugins/headers: user agents are named by their first 12 characters") {
  CHECK(userAgents(headersOf({{"user-agent", "Mozilla Thunderbird 115"}, {"x-mailer", "swaks"}})) ==
        std::vector<std::string>{"UA(Mozilla Thun)", "UA(swaks)"});
  CHECK(userAgents(headersOf({{"x-ms-has-attach", "yes"}})) == std::vector<std::string>{"UA(yes)"});
  CHECK(userAgents(headersOf({})).empty());
}

TEST_CASE("plugins/headers: mailing list managers") {
  CHECK(mailingListManagers(headersOf({{"Mailing-List", "contact x-help@EZMLM.example"}})) ==
        std::vector<std::string>{"ezmlm"});
  CHECK(mailingListManagers(
            headersOf({{"Sender", "owner-list@example.com"}, {"X-Mailman-Version", "2.1"}})) ==
        std::vector<std::string>{"majordomo", "mailman"});
  CHECK(mailingListManagers(headersOf({{"X-Google-Loop", "groups"}})) ==
        std::vector<std::string>{"googlegroups"});
  CHECK(mailingListManagers(
            headersOf({{"Sender", "list-owner@example.com"}, {"Mailing-List", "other"}}))
            .empty());
}

TEST_CASE("plugins/headers: lookalikes fold and brands match as words") {
  CHECK(normalizeLookalikes("PAYPA| $ecur1ty 0K") == "paypal security ok");
  CHECK(containsWord("\"paypal service\" <x@evil.example>", "paypal"));
  CHECK(containsWord("from PayPal.", "paypal"));
  CHECK_FALSE(containsWord("paypalmail", "paypal"));
  CHECK_FALSE(containsWord("mypaypal", "paypal"));
  CHECK_FALSE(containsWord("anything", ""));
  CHECK(containsWord("x mypaypal paypal", "paypal"));
  CHECK(containsNoCase("Foo PAYPAL.com", "paypal.COM"));
  CHECK_FALSE(containsNoCase("abc", "abcd"));
}
