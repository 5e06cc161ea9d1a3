#include "common/auth/auth_results.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace upesi::auth;

namespace {

std::size_t longestLine(const std::string& value, std::size_t first_offset) {
  std::size_t longest = 0;
  std::size_t start = 0;
  std::size_t offset = first_offset;
  while (true) {
    const std::size_t end = value.find("\r\n", start);
    const std::size_t length = (end == std::string::npos ? value.size() : end) - start + offset;
    longest = std::max(longest, length);
    if (end == std::string::npos) {
      return longest;
    }
    start = end + 2;
    offset = 7; // the tab that starts a continuation counts as 8 columns, and it is one byte
  }
}

} // namespace

TEST_CASE("auth results: no results") {
  CHECK(buildAuthResults("mx.example.org", {}) == "mx.example.org; none");
}

TEST_CASE("auth results: the usual three methods, folded") {
  std::vector<MethodResult> results{
      {"spf", {}, "pass", {}, {}, {{"smtp", "mailfrom", "sender@example.com"}}},
      {"dkim",
       1,
       "pass",
       "2048-bit key",
       {},
       {{"header", "d", "example.com"}, {"header", "s", "sel1"}, {"header", "b", "abcdEFGH"}}},
      {"dmarc", {}, "pass", "p=reject dis=none", {}, {{"header", "from", "example.com"}}},
  };
  const std::string value = buildAuthResults("mx.example.org", results);
  CHECK(value == "mx.example.org; spf=pass\r\n"
                 "\tsmtp.mailfrom=sender@example.com; dkim/1=pass (2048-bit key)\r\n"
                 "\theader.d=example.com header.s=sel1 header.b=abcdEFGH; dmarc=pass\r\n"
                 "\t(p=reject dis=none) header.from=example.com");
  CHECK(longestLine(value, 24) <= AuthResultsLineWidth);
}

TEST_CASE("auth results: quoting values, reasons and comments") {
  std::vector<MethodResult> results{
      {"spf",
       {},
       "fail",
       "a (nested) comment\\",
       "the \"reason\"\r\n",
       {{"smtp", "helo", "[192.0.2.1]"},
        {"smtp", "mailfrom", "@example.com"},
        {"policy", "x", "a b"},
        {"header", "i", "\"quoted local\"@example.com"}}},
  };
  CHECK(buildAuthResults("mx example", results, 0) ==
        "\"mx example\"; spf=fail (a \\(nested\\) comment\\\\) reason=\"the \\\"reason\\\"\"\r\n"
        "\tsmtp.helo=\"[192.0.2.1]\" smtp.mailfrom=@example.com policy.x=\"a b\"\r\n"
        "\theader.i=\"\\\"quoted local\\\"@example.com\"");
}

TEST_CASE("auth results: keywords lose bytes that do not belong") {
  std::vector<MethodResult> results{{"sp f;", {}, "pa=ss", {}, {}, {{"smtp x", "mail;from", "v"}}}};
  CHECK(buildAuthResults("id", results) == "id; spf=pass smtpx.mailfrom=v");
  std::vector<MethodResult> empty{{"", {}, "", {}, {}, {}}};
  CHECK(buildAuthResults("id", empty) == "id; unknown=unknown");
}

TEST_CASE("auth results: a long value is not split, only moved to its own line") {
  std::vector<MethodResult> results{
      {"dkim", {}, "pass", {}, {}, {{"header", "b", std::string(200, 'A')}}}};
  const std::string value = buildAuthResults("mx.example.org", results);
  CHECK(value == "mx.example.org; dkim=pass\r\n\theader.b=" + std::string(200, 'A'));
}

TEST_CASE("auth results: the authserv-id of a field") {
  CHECK(*authservId("mx.example.org; spf=pass smtp.mailfrom=example.com") == "mx.example.org");
  CHECK(*authservId("  mx.example.org;none") == "mx.example.org");
  CHECK(*authservId("mx.example.org") == "mx.example.org");
  CHECK(*authservId("mx.example.org 1; spf=pass") == "mx.example.org");
  CHECK(*authservId("(comment (nested) \\) ) mx.example.org (c) 1 (d) ; none") == "mx.example.org");
  CHECK(*authservId("\r\n\tMX.Example.ORG\r\n ; none") == "MX.Example.ORG");
  CHECK(*authservId("\"mx \\\"quoted\\\" id\"; none") == "mx \"quoted\" id");
  CHECK(*authservId("\"mx.example.org\" 1; none") == "mx.example.org");
  CHECK(*authservId("m\xc3\xa9.example; none") == "m\xc3\xa9.example");
  // What we build reads back.
  CHECK(*authservId(buildAuthResults("mx example", {})) == "mx example");
  CHECK(*authservId(buildAuthResults("mx.example.org", {{"spf", {}, "pass", {}, {}, {}}})) ==
        "mx.example.org");
}

TEST_CASE("auth results: values with no authserv-id") {
  CHECK_FALSE(authservId(""));
  CHECK_FALSE(authservId("   "));
  CHECK_FALSE(authservId("; spf=pass"));
  CHECK_FALSE(authservId("(unterminated comment"));
  CHECK_FALSE(authservId("mx.example.org (unterminated; spf=pass"));
  CHECK_FALSE(authservId("\"unterminated"));
  CHECK_FALSE(authservId("\"\"; none"));
  CHECK_FALSE(authservId("\"ends in a backslash\\"));
  CHECK_FALSE(authservId("mx.example.org spf=pass"));
  CHECK_FALSE(authservId("mx.example.org 1 2; none"));
  CHECK_FALSE(authservId("mx.example.org 1x; none"));
  CHECK_FALSE(authservId("mx=example; none"));
  CHECK_FALSE(authservId(std::string(MaxAuthResultsValue + 1, 'a')));
  CHECK(authservId(std::string(MaxAuthResultsValue, 'a')));
  CHECK_FALSE(authservId(std::string(60000, '(')));
  CHECK(*authservId(std::string(30000, '(') + std::string(30000, ')') + "id") == "id");
}
