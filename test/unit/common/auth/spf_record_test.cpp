#include "common/auth/spf_record.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <string>

using namespace upesi::spf;

namespace {

Record parsed(std::string_view txt) {
  const RecordParse parse = parseRecord(txt);
  REQUIRE_MESSAGE(parse.ok(), parse.permerror);
  const RecordParse again = parseRecord(writeRecord(parse.record));
  REQUIRE_MESSAGE(again.ok(), again.permerror);
  CHECK(again.record == parse.record);
  return parse.record;
}

std::string recordPermerror(std::string_view txt) {
  const RecordParse parse = parseRecord(txt);
  CHECK_FALSE(parse.ok());
  CHECK(parse.record == Record{});
  return parse.permerror;
}

std::array<unsigned char, 16> network(int family, const char* text) {
  std::array<unsigned char, 16> bytes{};
  REQUIRE(inet_pton(family, text, bytes.data()) == 1);
  return bytes;
}

} // namespace

TEST_CASE("spf record: which TXT strings are SPF records") {
  CHECK(isSpfRecord("v=spf1"));
  CHECK(isSpfRecord("v=spf1 -all"));
  CHECK(isSpfRecord("V=SPF1 -all"));
  CHECK_FALSE(isSpfRecord("v=spf10 -all"));
  CHECK_FALSE(isSpfRecord("v=spf1\t-all"));
  CHECK_FALSE(isSpfRecord(" v=spf1 -all"));
  CHECK_FALSE(isSpfRecord("spf2.0/pra -all"));
  CHECK_FALSE(isSpfRecord(""));
}

TEST_CASE("spf record: selection among a domain's TXT strings") {
  auto none = selectRecord({"google-site-verification=abc", "v=spf10"});
  CHECK(none.outcome == RecordSelection::Outcome::None);
  auto one = selectRecord({"other", "v=spf1 mx -all"});
  CHECK(one.outcome == RecordSelection::Outcome::Found);
  CHECK(one.record == "v=spf1 mx -all");
  auto two = selectRecord({"v=spf1 mx -all", "other", "V=spf1 -all"});
  CHECK(two.outcome == RecordSelection::Outcome::PermError);
  CHECK(two.permerror != "");
  CHECK(two.record == "");
}

TEST_CASE("spf record: the examples of RFC 7208 appendix A") {
  Record all = parsed("v=spf1 +all");
  REQUIRE(all.mechanisms.size() == 1);
  CHECK(all.mechanisms[0].kind == MechanismKind::All);
  CHECK(all.mechanisms[0].qualifier == Qualifier::Pass);

  Record a = parsed("v=spf1 a -all");
  REQUIRE(a.mechanisms.size() == 2);
  CHECK(a.mechanisms[0].kind == MechanismKind::A);
  CHECK(a.mechanisms[0].domain_spec == "");
  CHECK(a.mechanisms[0].ip4_cidr == 32);
  CHECK(a.mechanisms[0].ip6_cidr == 128);
  CHECK(a.mechanisms[1].qualifier == Qualifier::Fail);

  CHECK(parsed("v=spf1 a:example.org -all").mechanisms[0].domain_spec == "example.org");
  CHECK(parsed("v=spf1 mx -all").mechanisms[0].kind == MechanismKind::Mx);
  CHECK(parsed("v=spf1 mx:example.org -all").mechanisms[0].domain_spec == "example.org");
  CHECK(parsed("v=spf1 mx mx:example.org -all").mechanisms.size() == 3);

  Record mx30 = parsed("v=spf1 mx/30 mx:example.org/30 -all");
  REQUIRE(mx30.mechanisms.size() == 3);
  CHECK(mx30.mechanisms[0].ip4_cidr == 30);
  CHECK(mx30.mechanisms[0].domain_spec == "");
  CHECK(mx30.mechanisms[1].ip4_cidr == 30);
  CHECK(mx30.mechanisms[1].ip6_cidr == 128);
  CHECK(mx30.mechanisms[1].domain_spec == "example.org");

  CHECK(parsed("v=spf1 ptr -all").mechanisms[0].kind == MechanismKind::Ptr);

  Record ip4 = parsed("v=spf1 ip4:192.0.2.128/28 -all");
  CHECK(ip4.mechanisms[0].kind == MechanismKind::Ip4);
  CHECK(ip4.mechanisms[0].ip4_cidr == 28);
  CHECK(ip4.mechanisms[0].network == network(AF_INET, "192.0.2.128"));

  Record exists = parsed("v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all");
  CHECK(exists.mechanisms[0].kind == MechanismKind::Exists);
  CHECK(exists.mechanisms[0].domain_spec == "%{ir}.%{l1r+-}._spf.%{d}");

  Record explained = parsed("v=spf1 mx -all exp=explain._spf.%{d}");
  CHECK(explained.explanation == "explain._spf.%{d}");
  CHECK_FALSE(explained.redirect);

  Record includes = parsed("v=spf1 -include:ip4._spf.%{d} -include:ptr._spf.%{d} +all");
  REQUIRE(includes.mechanisms.size() == 3);
  CHECK(includes.mechanisms[1].kind == MechanismKind::Include);
  CHECK(includes.mechanisms[1].qualifier == Qualifier::Fail);
  CHECK(includes.mechanisms[1].domain_spec == "ptr._spf.%{d}");

  CHECK(parsed("v=spf1 -ip4:192.0.2.0/24 +all").mechanisms[0].qualifier == Qualifier::Fail);
  CHECK(parsed("v=spf1 -ptr +all").mechanisms[0].kind == MechanismKind::Ptr);
  CHECK(parsed("v=spf1 redirect=_spf.example.com").redirect == "_spf.example.com");
}

TEST_CASE("spf record: cidr lengths, IPv6, qualifiers, case and spaces") {
  Record dual = parsed("v=spf1 a:example.com/24//64 mx//96 ~a/0 ?mx:%{d}/32//0");
  REQUIRE(dual.mechanisms.size() == 4);
  CHECK(dual.mechanisms[0].ip4_cidr == 24);
  CHECK(dual.mechanisms[0].ip6_cidr == 64);
  CHECK(dual.mechanisms[1].ip4_cidr == 32);
  CHECK(dual.mechanisms[1].ip6_cidr == 96);
  CHECK(dual.mechanisms[2].qualifier == Qualifier::SoftFail);
  CHECK(dual.mechanisms[2].ip4_cidr == 0);
  CHECK(dual.mechanisms[3].qualifier == Qualifier::Neutral);
  CHECK(dual.mechanisms[3].domain_spec == "%{d}");
  CHECK(dual.mechanisms[3].ip6_cidr == 0);

  Record ip6 = parsed("v=spf1 ip6:2001:db8::/32 ip6:::1 ip6:2001:db8::cb01/128");
  CHECK(ip6.mechanisms[0].ip6_cidr == 32);
  CHECK(ip6.mechanisms[0].network == network(AF_INET6, "2001:db8::"));
  CHECK(ip6.mechanisms[1].network == network(AF_INET6, "::1"));

  Record upper = parsed("V=SPF1   INCLUDE:_spf.Example.COM  Ip4:10.0.0.1   -ALL  ");
  REQUIRE(upper.mechanisms.size() == 3);
  CHECK(upper.mechanisms[0].domain_spec == "_spf.Example.COM");
  CHECK(upper.mechanisms[1].ip4_cidr == 32);
  CHECK(upper.mechanisms[2].kind == MechanismKind::All);

  CHECK(parsed("v=spf1").mechanisms.empty());
  CHECK(parsed("v=spf1 a:example.com.").mechanisms[0].domain_spec == "example.com.");
  CHECK(parsed("v=spf1 a:1-2.example.1-2").mechanisms.size() == 1);
}

TEST_CASE("spf record: unknown modifiers are kept, redirect and exp are modifiers in any case") {
  Record record = parsed("v=spf1 moo.cow-far_out=man:dog/cat ip4:1.2.3.4 Redirect=%{d}.x EXP=e.x");
  REQUIRE(record.unknown_modifiers.size() == 1);
  CHECK(record.unknown_modifiers[0].name == "moo.cow-far_out");
  CHECK(record.unknown_modifiers[0].value == "man:dog/cat");
  CHECK(record.redirect == "%{d}.x");
  CHECK(record.explanation == "e.x");
  CHECK(parsed("v=spf1 foo= foo=bar").unknown_modifiers.size() == 2);
}

TEST_CASE("spf record: syntax errors are permerrors naming the bad term") {
  CHECK(
      recordPermerror("v=spf1 redirect=a.example redirect=b.example").find("redirect=b.example") !=
      std::string::npos);
  CHECK(recordPermerror("v=spf1 exp=a.example exp=b.example") != "");
  CHECK(recordPermerror("v=spf1 ip4:192.0.2.0/33").find("ip4:192.0.2.0/33") != std::string::npos);
  CHECK(recordPermerror("v=spf1 ip6:2001:db8::/129") != "");
  CHECK(recordPermerror("v=spf1 ip4:192.0.2.0/024") != "");
  CHECK(recordPermerror("v=spf1 ip4:192.0.2.0/") != "");
  CHECK(recordPermerror("v=spf1 ip4:192.0.2") != "");
  CHECK(recordPermerror("v=spf1 ip4:192.0.2.01") != "");
  CHECK(recordPermerror("v=spf1 ip4:2001:db8::1") != "");
  CHECK(recordPermerror("v=spf1 ip6:192.0.2.1") != "");
  CHECK(recordPermerror("v=spf1 ip4") != "");
  CHECK(recordPermerror("v=spf1 ip4:") != "");
  CHECK(recordPermerror("v=spf1 a/33") != "");
  CHECK(recordPermerror("v=spf1 mx//129") != "");
  CHECK(recordPermerror("v=spf1 a:example.com//64/24") != "");
  CHECK(recordPermerror("v=spf1 a/24/") != "");
  CHECK(recordPermerror("v=spf1 foo:example.com").find("foo:example.com") != std::string::npos);
  CHECK(recordPermerror("v=spf1 -foo") != "");
  CHECK(recordPermerror("v=spf1 !all") != "");
  CHECK(recordPermerror("v=spf1 +-all") != "");
  CHECK(recordPermerror("v=spf1 include").find("include") != std::string::npos);
  CHECK(recordPermerror("v=spf1 include:") != "");
  CHECK(recordPermerror("v=spf1 exists") != "");
  CHECK(recordPermerror("v=spf1 all:example.com") != "");
  CHECK(recordPermerror("v=spf1 a:") != "");
  CHECK(recordPermerror("v=spf1 a:example") != "");      // no "." toplabel
  CHECK(recordPermerror("v=spf1 a:example.123") != "");  // numeric toplabel
  CHECK(recordPermerror("v=spf1 a:example.-com") != ""); // hyphen at the start of the toplabel
  CHECK(recordPermerror("v=spf1 include:%{x}.example.com") != "");
  CHECK(recordPermerror("v=spf1 include:%{d0}.example.com") != "");
  CHECK(recordPermerror("v=spf1 include:%{c}.example.com") != "");
  CHECK(recordPermerror("v=spf1 include:example.com%") != "");
  CHECK(recordPermerror("v=spf1 redirect=") != "");
  CHECK(recordPermerror("v=spf1 -redirect=example.com") != "");
  CHECK(recordPermerror("v=spf1 foo=%{") != "");
  CHECK(recordPermerror("v=spf1 a\t-all") != "");
  CHECK(recordPermerror("v=spf1 a:ex\x7f.com") != "");
  CHECK(recordPermerror("v=spf10 -all") != "");
  CHECK(recordPermerror("spf2.0/pra -all") != "");
}

TEST_CASE("spf record: bounded length and term count") {
  std::string many = "v=spf1";
  for (std::size_t i = 0; i < MaxTerms; ++i) {
    many += " a";
  }
  CHECK(parsed(many).mechanisms.size() == MaxTerms);
  CHECK(recordPermerror(many + " a") != "");
  std::string longest = "v=spf1 a:" + std::string(MaxRecordLength - 13, 'x') + ".com";
  REQUIRE(longest.size() == MaxRecordLength);
  CHECK(parseRecord(longest).ok());
  CHECK(recordPermerror(longest + " ") != "");
}

TEST_CASE("spf record: written out with default lengths left out and modifiers last") {
  const RecordParse parse = parseRecord(
      "v=spf1 exp=e.example.com +a/32//128 -ip4:192.0.2.0/24 MX:x.example.com//64 ~ip6:::1 "
      "moo=cow ?all redirect=r.example.com");
  REQUIRE(parse.ok());
  CHECK(writeRecord(parse.record) == "v=spf1 a -ip4:192.0.2.0/24 mx:x.example.com//64 ~ip6:::1 "
                                     "?all redirect=r.example.com exp=e.example.com moo=cow");
}
