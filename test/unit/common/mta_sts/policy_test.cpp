// MTA-STS records and policies as RFC 8461 writes them, and as they come malformed.
#include "common/mta_sts/policy.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using upesi::mta_sts::Mode;
using upesi::mta_sts::parsePolicy;
using upesi::mta_sts::recordId;

TEST_CASE("MTA-STS TXT record: the id of the one v=STSv1 record") {
  CHECK(recordId({"v=STSv1; id=20160831085700Z;"}) == "20160831085700Z");
  CHECK(recordId({"v=STSv1;id=abc"}) == "abc");
  CHECK(recordId({"v=STSv1 ; id=abc; ext_1=val-ue ;"}) == "abc");
  // Other TXT records beside it are discarded.
  CHECK(recordId({"google-site-verification=xyz", "v=STSv1; id=a1"}) == "a1");
  // None, several, or a malformed one: no policy.
  CHECK_FALSE(recordId({}));
  CHECK_FALSE(recordId({"v=spf1 -all"}));
  CHECK_FALSE(recordId({"v=STSv1; id=a1", "v=STSv1; id=a2"}));
  CHECK_FALSE(recordId({"v=STSv1;"}));                            // no id
  CHECK_FALSE(recordId({"v=STSv1; id=has-dash"}));                // id is letters and digits
  CHECK_FALSE(recordId({"v=STSv1; id=" + std::string(33, 'a')})); // at most 32
  CHECK_FALSE(recordId({"v=STSv1; id=a; id=b"}));
  CHECK_FALSE(recordId({"v=STSv1; id=a;; x=y"}));
  CHECK_FALSE(recordId({"v=STSv1; id=a; bad"}));
  CHECK_FALSE(recordId({"v=STSv2; id=a"}));
  CHECK_FALSE(recordId({"v=STSv10; id=a"}));
}

TEST_CASE("MTA-STS policy file: fields, order, line ends, extensions") {
  auto p = parsePolicy("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
                       "mx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n");
  REQUIRE(p.ok());
  CHECK((p->mode == Mode::Enforce));
  CHECK(p->max_age == 604800);
  CHECK(p->mx ==
        std::vector<std::string>{"mail.example.com", "*.example.net", "backupmx.example.com"});
  auto lf = parsePolicy("max_age: 86400\nmx: MX.Example.COM\nmode: testing\nversion: STSv1\n"
                        "future_field: whatever\n");
  REQUIRE(lf.ok());
  CHECK((lf->mode == Mode::Testing));
  CHECK(lf->mx == std::vector<std::string>{"mx.example.com"});
  auto none = parsePolicy("version: STSv1\nmode: none\nmax_age: 1");
  REQUIRE(none.ok());
  CHECK(none->mx.empty());
  CHECK(parsePolicy("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 99999999999").ok() ==
        false); // more than ten digits
  auto capped = parsePolicy("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 999999999");
  REQUIRE(capped.ok());
  CHECK(capped->max_age == upesi::mta_sts::MaxAge);
}

TEST_CASE("MTA-STS policy file: what makes it no policy") {
  const char* bad[] = {
      "",
      "mode: enforce\nmx: a.example\nmax_age: 1",                   // no version
      "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1",   // another version
      "version: STSv1\nmx: a.example\nmax_age: 1",                  // no mode
      "version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1",    // unknown mode
      "version: STSv1\nmode: enforce\nmx: a.example",               // no max_age
      "version: STSv1\nmode: enforce\nmax_age: 1",                  // no mx
      "version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1",  // not a host name
      "version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 1", // one wildcard label only
      "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1",  // not a number
      "<html>not found</html>",                                     // a web page
  };
  for (const char* text : bad) {
    CAPTURE(text);
    CHECK_FALSE(parsePolicy(text).ok());
  }
  CHECK_FALSE(parsePolicy(std::string(upesi::mta_sts::MaxPolicyBytes + 1, '\n')).ok());
}

TEST_CASE("MTA-STS mx patterns: exact names, and one label for a wildcard") {
  auto p = parsePolicy("version: STSv1\nmode: enforce\nmx: mail.example.com\n"
                       "mx: *.example.net\nmax_age: 1\n");
  REQUIRE(p.ok());
  CHECK(p->matches("mail.example.com"));
  CHECK(p->matches("MAIL.Example.com."));
  CHECK(p->matches("mx1.example.net"));
  CHECK_FALSE(p->matches("example.net"));
  CHECK_FALSE(p->matches("a.b.example.net"));
  CHECK_FALSE(p->matches("other.example.com"));
  CHECK_FALSE(p->matches("evilexample.net"));
  CHECK_FALSE(p->matches(".example.net"));
}
