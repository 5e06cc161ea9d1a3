#include "common/auth/from_domain.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace upesi::dmarc;
using Problem = FromDomain::Problem;

namespace {

std::string domainOf(const std::string& value) {
  const FromDomain from = fromDomain({value});
  return from.ok() ? from.domain : "<" + from.detail + ">";
}

} // namespace

TEST_CASE("from domain: the forms of RFC 5322 section 3.4 and appendix A") {
  CHECK(domainOf("jdoe@example.com") == "example.com");
  CHECK(domainOf("John Doe <jdoe@machine.example>") == "machine.example");
  CHECK(domainOf("\"Joe Q. Public\" <john.q.public@example.com>") == "example.com");
  CHECK(domainOf("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>") == "silly.test");
  CHECK(domainOf("Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>") ==
        "<From addresses in 3 domains>");
  CHECK(domainOf("A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;") ==
        "<From addresses in 3 domains>");
  CHECK(domainOf("A Group:Ed Jones <c@a.test>;") == "a.test");
  CHECK(domainOf("Undisclosed recipients:;") == "<no address in the From field>");
  CHECK(domainOf("<@route.example,@other.example:user@Example.COM.>") == "example.com");
  CHECK(domainOf("\"odd@local\"@Example.org") == "example.org");
  CHECK(domainOf("=?utf-8?q?J=C3=B6rg?= <j@example.de>") == "example.de");
  CHECK(domainOf("J\xc3\xb6rg <j@b\xc3\xbc"
                 "cher.example>") == "xn--bcher-kva.example");
  CHECK(domainOf("a@example.com,\r\n B@EXAMPLE.com") == "example.com"); // one domain
  CHECK(domainOf("John Doe\r\n <jdoe@example.com>") == "example.com");
}

TEST_CASE("from domain: why there is none") {
  CHECK(fromDomain({}).problem == Problem::NoFrom);
  CHECK(fromDomain({"a@example.com", "b@example.com"}).problem == Problem::SeveralFromFields);
  CHECK(fromDomain({"a@example.com, b@example.org"}).problem == Problem::SeveralDomains);
  CHECK(fromDomain({"a@example.com, b@example.org"}).domains ==
        std::vector<std::string>{"example.com", "example.org"});
  CHECK(fromDomain({"jdoe"}).problem == Problem::NoDomain);
  CHECK(fromDomain({"John <jdoe>"}).problem == Problem::NoDomain);
  CHECK(fromDomain({"<>"}).problem == Problem::NoDomain);
  CHECK(fromDomain({""}).problem == Problem::NoDomain);
  CHECK(fromDomain({"a@[192.0.2.1]"}).problem == Problem::NoDomain);
  CHECK(fromDomain({"a@-bad-.example"}).problem == Problem::NoDomain);
  CHECK(fromDomain({"a@example..com"}).problem == Problem::NoDomain);
  CHECK(fromDomain({"John <a@example.com"}).problem == Problem::Unparseable);
  CHECK(fromDomain({"\"unterminated <a@example.com>"}).problem == Problem::Unparseable);
  CHECK(fromDomain({"(unterminated a@example.com"}).problem == Problem::Unparseable);
  CHECK(fromDomain({"a@"}).problem == Problem::Unparseable);
  CHECK(fromDomain({"a@example.com b@example.com"}).problem == Problem::Unparseable);
  CHECK(fromDomain({"a@example.com>"}).problem == Problem::Unparseable);
  CHECK(fromDomain({"a@[1.2.3.4"}).problem == Problem::Unparseable);
  CHECK(fromDomain({"G1: G2: a@example.com;;"}).problem == Problem::Unparseable);
  auto unparseable = fromDomain({"John <a@example.com"});
  CHECK(unparseable.detail == "an unparseable From field: an unterminated angle address");
  CHECK(unparseable.domain.empty());
}

TEST_CASE("from domain: the mailbox list parser") {
  auto list = parseMailboxList("\"Smith, John\" <john.smith@example.com>, "
                               "\"a\\\"b\"@example.org (comment), ,");
  REQUIRE_MESSAGE(list.ok(), list.error);
  REQUIRE(list.mailboxes.size() == 2);
  CHECK(list.mailboxes[0] == Mailbox{"john.smith", "example.com"});
  CHECK(list.mailboxes[1] == Mailbox{"a\"b", "example.org"});
  auto literal = parseMailboxList("x <user@[IPv6:2001:db8::1]>");
  REQUIRE(literal.ok());
  CHECK(literal.mailboxes[0].domain == "[IPv6:2001:db8::1]");
}

TEST_CASE("from domain: hostile input") {
  CHECK(fromDomain({std::string(70000, 'a') + "@example.com"}).problem == Problem::Unparseable);
  CHECK(fromDomain({std::string(10000, '(')}).problem == Problem::Unparseable);
  CHECK(fromDomain({std::string(10000, '<')}).problem == Problem::Unparseable);
  CHECK(fromDomain({std::string(10000, ',')}).problem == Problem::NoDomain);
  CHECK(fromDomain({std::string("a@exa\0mple.com", 14)}).problem == Problem::Unparseable);
  CHECK(fromDomain({"a@example.com\\"}).problem == Problem::Unparseable);
  std::string many;
  for (int i = 0; i < 1001; ++i) {
    many += "a@example.com,";
  }
  auto capped = fromDomain({many});
  CHECK(capped.problem == Problem::Unparseable);
  CHECK(capped.detail.find("more than 1000 addresses") != std::string::npos);
  std::string nested = std::string(5000, '(') + std::string(5000, ')') + "a@example.com";
  CHECK(domainOf(nested) == "example.com");
}
