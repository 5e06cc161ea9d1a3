#include "common/auth/spf_check.hpp"

#include <doctest/doctest.h>

#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

using namespace upesi;
using namespace upesi::spf;

namespace {

// A zone in a table. Names not in it are NXDOMAIN; a name with other types is NODATA.
struct FakeDns {
  std::map<std::pair<std::string, DnsType>, DnsResult> answers;
  std::vector<std::string> asked;
  bool deferred = false; // answer from run() instead of inline
  std::deque<std::function<void()>> pending;

  void add(const std::string& name, DnsType type, std::vector<std::string> values) {
    auto& result = answers[{name, type}];
    result = DnsResult{DnsStatus::Ok, {}, {}};
    unsigned priority = 10;
    for (auto& value : values) {
      result.records.push_back(DnsRecord{std::move(value), priority, 300});
      priority += 10;
    }
  }
  void fail(const std::string& name, DnsType type, DnsStatus status) {
    answers[{name, type}] = DnsResult{status, "injected", {}};
  }

  DnsLookup lookup() {
    return [this](const std::string& name, DnsType type, DnsCallback callback) {
      asked.push_back(std::string(toString(type)) + " " + name);
      DnsResult result{DnsStatus::NxDomain, "no such name", {}};
      if (auto it = answers.find({name, type}); it != answers.end()) {
        result = it->second;
      } else {
        for (const auto& [key, value] : answers) {
          if (key.first == name) {
            result = DnsResult{DnsStatus::NoData, "no data", {}};
          }
        }
      }
      if (deferred) {
        pending.emplace_back([callback, result] { callback(result); });
      } else {
        callback(result);
      }
    };
  }
};

// RFC 7208 appendix A's zone.
FakeDns appendixA() {
  FakeDns dns;
  dns.add("example.com", DnsType::Mx, {"mx.example.com", "mx2.example.com"});
  dns.add("mx.example.com", DnsType::A, {"192.0.2.129"});
  dns.add("mx2.example.com", DnsType::A, {"192.0.2.130"});
  dns.add("example.com", DnsType::A, {"192.0.2.10", "192.0.2.11"});
  dns.add("amy.example.com", DnsType::A, {"192.0.2.65"});
  dns.add("bob.example.com", DnsType::A, {"192.0.2.66"});
  dns.add("mail-a.example.com", DnsType::A, {"192.0.2.129"});
  dns.add("mail-b.example.com", DnsType::A, {"192.0.2.130"});
  dns.add("www.example.com", DnsType::A, {"192.0.2.10", "192.0.2.11"}); // the CNAME, followed
  dns.add("mail-c.example.org", DnsType::A, {"192.0.2.140"});
  dns.add("example.org", DnsType::Mx, {"mail-c.example.org"});
  dns.add("10.2.0.192.in-addr.arpa", DnsType::Ptr, {"example.com"});
  dns.add("11.2.0.192.in-addr.arpa", DnsType::Ptr, {"example.com"});
  dns.add("65.2.0.192.in-addr.arpa", DnsType::Ptr, {"amy.example.com"});
  dns.add("66.2.0.192.in-addr.arpa", DnsType::Ptr, {"bob.example.com"});
  dns.add("129.2.0.192.in-addr.arpa", DnsType::Ptr, {"mail-a.example.com"});
  dns.add("130.2.0.192.in-addr.arpa", DnsType::Ptr, {"mail-b.example.com"});
  dns.add("140.2.0.192.in-addr.arpa", DnsType::Ptr, {"mail-c.example.org"});
  dns.add("10.0.0.10.in-addr.arpa", DnsType::Ptr, {"bob.example.com"}); // does not resolve back
  return dns;
}

CheckOutcome check(FakeDns& dns, const std::string& ip, const std::string& sender,
                   std::string domain = {}) {
  CheckRequest request;
  request.client_ip = ip;
  request.sender = sender;
  request.helo = "mx.example.org";
  request.domain = domain.empty() ? sender.substr(sender.find('@') + 1) : domain;
  request.receiver = "mx.test";
  request.now = 1700000000;
  std::optional<CheckOutcome> outcome;
  checkHost(request, dns.lookup(), [&outcome](CheckOutcome o) {
    REQUIRE_FALSE(outcome);
    outcome = std::move(o);
  });
  while (!dns.pending.empty()) {
    auto next = std::move(dns.pending.front());
    dns.pending.pop_front();
    next();
  }
  REQUIRE(outcome);
  return *outcome;
}

std::string result(FakeDns& dns, const std::string& record, const std::string& ip) {
  dns.add("example.com", DnsType::Txt, {record});
  return std::string(resultName(check(dns, ip, "user@example.com").result));
}

} // namespace

TEST_CASE("spf check: RFC 7208 appendix A.1 simple examples") {
  auto dns = appendixA();
  CHECK(result(dns, "v=spf1 +all", "198.51.100.1") == "pass");
  CHECK(result(dns, "v=spf1 a -all", "192.0.2.10") == "pass");
  CHECK(result(dns, "v=spf1 a -all", "192.0.2.11") == "pass");
  CHECK(result(dns, "v=spf1 a -all", "192.0.2.12") == "fail");
  CHECK(result(dns, "v=spf1 a:example.org -all", "192.0.2.10") == "fail");
  CHECK(result(dns, "v=spf1 mx -all", "192.0.2.129") == "pass");
  CHECK(result(dns, "v=spf1 mx -all", "192.0.2.130") == "pass");
  CHECK(result(dns, "v=spf1 mx -all", "192.0.2.140") == "fail");
  CHECK(result(dns, "v=spf1 mx:example.org -all", "192.0.2.140") == "pass");
  CHECK(result(dns, "v=spf1 mx mx:example.org -all", "192.0.2.140") == "pass");
  CHECK(result(dns, "v=spf1 mx mx:example.org -all", "192.0.2.130") == "pass");
  CHECK(result(dns, "v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.131") == "pass");
  CHECK(result(dns, "v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.143") == "pass");
  CHECK(result(dns, "v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.144") == "fail");
  CHECK(result(dns, "v=spf1 ptr -all", "192.0.2.65") == "pass");
  CHECK(result(dns, "v=spf1 ptr -all", "192.0.2.10") == "pass");
  CHECK(result(dns, "v=spf1 ptr -all", "192.0.2.140") == "fail");
  CHECK(result(dns, "v=spf1 ptr -all", "10.0.0.10") == "fail"); // PTR not confirmed by A
  CHECK(result(dns, "v=spf1 ip4:192.0.2.128/28 -all", "192.0.2.129") == "pass");
  CHECK(result(dns, "v=spf1 ip4:192.0.2.128/28 -all", "192.0.2.144") == "fail");
  CHECK(result(dns, "v=spf1 ?all", "192.0.2.1") == "neutral");
  CHECK(result(dns, "v=spf1 ~all", "192.0.2.1") == "softfail");
  CHECK(result(dns, "v=spf1 ip4:192.0.2.1", "192.0.2.2") == "neutral"); // the default
}

TEST_CASE("spf check: the outcome names the domain and the matching directive") {
  auto dns = appendixA();
  dns.add("example.com", DnsType::Txt, {"v=spf1 -ip4:192.0.2.0/24 mx/30 ~all"});
  auto outcome = check(dns, "192.0.2.129", "user@example.com");
  CHECK(outcome.result == CheckResult::Fail);
  CHECK(outcome.domain == "example.com");
  CHECK(outcome.mechanism == "-ip4:192.0.2.0/24");
  CHECK(outcome.lookups == 0);
}

TEST_CASE("spf check: IPv6 clients match ip6 and the AAAA side of dual CIDR") {
  auto dns = appendixA();
  dns.add("example.com", DnsType::Aaaa, {"2001:db8::10"});
  CHECK(result(dns, "v=spf1 ip6:2001:db8::/32 -all", "2001:db8::1") == "pass");
  CHECK(result(dns, "v=spf1 ip4:192.0.2.0/24 -all", "2001:db8::1") == "fail");
  CHECK(result(dns, "v=spf1 a//64 -all", "2001:db8::ffff") == "pass");
  CHECK(result(dns, "v=spf1 a -all", "2001:db8::ffff") == "fail");
  CHECK(result(dns, "v=spf1 a/24 -all", "2001:db8::10") == "pass");
  // An IPv4-mapped address is checked as IPv4.
  CHECK(result(dns, "v=spf1 ip4:192.0.2.0/24 -all", "::ffff:192.0.2.7") == "pass");
}

TEST_CASE("spf check: include passes only a pass; a missing record is a permerror") {
  auto dns = appendixA();
  dns.add("_spf.example.net", DnsType::Txt, {"v=spf1 ip4:198.51.100.0/24 -all"});
  dns.add("example.com", DnsType::Txt, {"v=spf1 -include:_spf.example.net ~all"});
  auto outcome = check(dns, "198.51.100.7", "user@example.com");
  CHECK(outcome.result == CheckResult::Fail);
  CHECK(outcome.mechanism == "-include:_spf.example.net");
  CHECK(result(dns, "v=spf1 include:_spf.example.net ~all", "192.0.2.1") == "softfail");
  CHECK(result(dns, "v=spf1 include:nothing.example.net ~all", "192.0.2.1") == "permerror");
  dns.add("bad.example.net", DnsType::Txt, {"v=spf1 ip4:1.2.3"});
  CHECK(result(dns, "v=spf1 include:bad.example.net ~all", "192.0.2.1") == "permerror");
  dns.fail("down.example.net", DnsType::Txt, DnsStatus::ServFail);
  CHECK(result(dns, "v=spf1 include:down.example.net ~all", "192.0.2.1") == "temperror");
}

TEST_CASE("spf check: redirect is followed only when nothing matched, and must find a record") {
  auto dns = appendixA();
  dns.add("_spf.example.net", DnsType::Txt, {"v=spf1 ip4:198.51.100.0/24 -all"});
  CHECK(result(dns, "v=spf1 redirect=_spf.example.net", "198.51.100.7") == "pass");
  CHECK(result(dns, "v=spf1 redirect=_spf.example.net", "192.0.2.1") == "fail");
  CHECK(result(dns, "v=spf1 ip4:192.0.2.1 redirect=_spf.example.net", "192.0.2.1") == "pass");
  CHECK(result(dns, "v=spf1 ?all redirect=_spf.example.net", "198.51.100.7") == "neutral");
  CHECK(result(dns, "v=spf1 redirect=nothing.example.net", "192.0.2.1") == "permerror");
}

TEST_CASE("spf check: no record, malformed domains and several records") {
  auto dns = appendixA();
  CHECK(check(dns, "192.0.2.1", "user@nothing.example.net").result == CheckResult::None);
  dns.add("text.example.net", DnsType::Txt, {"google-site-verification=abc", "v=spf10"});
  CHECK(check(dns, "192.0.2.1", "user@text.example.net").result == CheckResult::None);
  CHECK(check(dns, "192.0.2.1", "user@localhost").result == CheckResult::None);
  CHECK(check(dns, "192.0.2.1", "user@a..example.com").result == CheckResult::None);
  dns.add("two.example.net", DnsType::Txt, {"v=spf1 -all", "v=spf1 +all"});
  CHECK(check(dns, "192.0.2.1", "user@two.example.net").result == CheckResult::PermError);
  dns.fail("slow.example.net", DnsType::Txt, DnsStatus::Timeout);
  auto slow = check(dns, "192.0.2.1", "user@slow.example.net");
  CHECK(slow.result == CheckResult::TempError);
  CHECK(slow.problem.find("slow.example.net") != std::string::npos);
}

TEST_CASE("spf check: more than 10 DNS-querying terms is a permerror, all others are free") {
  auto dns = appendixA();
  std::string ten = "v=spf1";
  for (int i = 0; i < 10; ++i) {
    ten += " a:amy.example.com";
  }
  CHECK(result(dns, ten + " ip4:192.0.2.200 -all", "192.0.2.200") == "pass");
  auto outcome = check(dns, "192.0.2.201", "user@example.com");
  CHECK(outcome.result == CheckResult::Fail);
  CHECK(outcome.lookups == 10);
  CHECK(result(dns, ten + " a:amy.example.com ip4:192.0.2.200 -all", "192.0.2.200") == "permerror");
  // Includes count with what they contain.
  dns.add("six.example.net", DnsType::Txt,
          {"v=spf1 mx:example.com mx:example.com mx:example.com mx:example.com mx:example.com "
           "ip4:203.0.113.1 -all"});
  CHECK(result(dns, "v=spf1 include:six.example.net a a a a -all", "192.0.2.10") == "pass");
  CHECK(result(dns,
               "v=spf1 include:six.example.net a:bob.example.com a:bob.example.com "
               "a:bob.example.com a:bob.example.com a -all",
               "192.0.2.11") == "permerror");
}

TEST_CASE("spf check: an include loop ends at the lookup limit") {
  FakeDns dns;
  dns.add("loop-a.example", DnsType::Txt, {"v=spf1 include:loop-b.example -all"});
  dns.add("loop-b.example", DnsType::Txt, {"v=spf1 include:loop-a.example -all"});
  auto outcome = check(dns, "192.0.2.1", "user@loop-a.example");
  CHECK(outcome.result == CheckResult::PermError);
  CHECK(outcome.lookups == 11);
}

TEST_CASE("spf check: a third void lookup is a permerror") {
  auto dns = appendixA();
  CHECK(result(dns, "v=spf1 a:void1.example.com a:void2.example.com ip4:192.0.2.1 -all",
               "192.0.2.1") == "pass");
  auto outcome = check(dns, "192.0.2.1", "user@example.com");
  CHECK(outcome.void_lookups == 2);
  CHECK(result(dns,
               "v=spf1 a:void1.example.com a:void2.example.com exists:void3.example.com "
               "ip4:192.0.2.1 -all",
               "192.0.2.1") == "permerror");
  // NODATA counts as void too.
  CHECK(result(dns, "v=spf1 mx:amy.example.com a:void1.example.com a:void2.example.com -all",
               "192.0.2.1") == "permerror");
}

TEST_CASE("spf check: an mx with more than 10 names is a permerror; null MX matches nothing") {
  auto dns = appendixA();
  std::vector<std::string> hosts;
  for (int i = 0; i < 11; ++i) {
    hosts.push_back("mx" + std::to_string(i) + ".example.net");
  }
  dns.add("many.example.net", DnsType::Mx, hosts);
  CHECK(result(dns, "v=spf1 mx:many.example.net -all", "192.0.2.1") == "permerror");
  dns.add("null.example.net", DnsType::Mx, {"."});
  CHECK(result(dns, "v=spf1 mx:null.example.net ip4:192.0.2.1 -all", "192.0.2.1") == "pass");
  dns.fail("mx.broken.example", DnsType::A, DnsStatus::ServFail);
  dns.add("broken.example", DnsType::Mx, {"mx.broken.example"});
  CHECK(result(dns, "v=spf1 mx:broken.example -all", "192.0.2.1") == "temperror");
}

TEST_CASE("spf check: macros in exists and the per-IP DNS list pattern (RFC 7208 appendix D)") {
  auto dns = appendixA();
  dns.add("1.2.0.192._spf.example.com", DnsType::A, {"127.0.0.2"});
  CHECK(result(dns, "v=spf1 exists:%{ir}._spf.%{d} -all", "192.0.2.1") == "pass");
  CHECK(result(dns, "v=spf1 exists:%{ir}._spf.%{d} -all", "192.0.2.2") == "fail");
  CHECK(dns.asked.back() == "A 2.2.0.192._spf.example.com");
  dns.add("user.example.com._spf.example.com", DnsType::A, {"127.0.0.2"});
  CHECK(result(dns, "v=spf1 exists:%{l}.%{o}._spf.%{d} -all", "192.0.2.9") == "pass");
}

TEST_CASE("spf check: the p macro uses a validated name, preferring the checked domain") {
  auto dns = appendixA();
  dns.add("amy.example.com._spf.example.com", DnsType::A, {"127.0.0.2"});
  CHECK(result(dns, "v=spf1 exists:%{p}._spf.%{d} -all", "192.0.2.65") == "pass");
  CHECK(result(dns, "v=spf1 exists:%{p}._spf.%{d} -all", "10.0.0.10") == "fail");
  CHECK(dns.asked.back() == "A unknown._spf.example.com");
}

TEST_CASE("spf check: exp= explains a fail, expanded, and any trouble with it is ignored") {
  auto dns = appendixA();
  dns.add("explain.example.com", DnsType::Txt,
          {"%{i} is not one of %{d}'s designated mail servers."});
  dns.add("example.com", DnsType::Txt, {"v=spf1 mx -all exp=explain.example.com"});
  auto outcome = check(dns, "192.0.2.7", "user@example.com");
  CHECK(outcome.result == CheckResult::Fail);
  CHECK(outcome.explanation == "192.0.2.7 is not one of example.com's designated mail servers.");
  dns.add("example.com", DnsType::Txt, {"v=spf1 mx ~all exp=explain.example.com"});
  CHECK(check(dns, "192.0.2.7", "user@example.com").explanation.empty());
  dns.add("example.com", DnsType::Txt, {"v=spf1 mx -all exp=missing.example.com"});
  outcome = check(dns, "192.0.2.7", "user@example.com");
  CHECK(outcome.result == CheckResult::Fail);
  CHECK(outcome.explanation.empty());
  dns.add("two.example.com", DnsType::Txt, {"one", "two"});
  dns.add("example.com", DnsType::Txt, {"v=spf1 -all exp=two.example.com"});
  CHECK(check(dns, "192.0.2.7", "user@example.com").explanation.empty());
}

TEST_CASE("spf check: the HELO check uses postmaster@helo") {
  auto dns = appendixA();
  dns.add("mx.example.com", DnsType::Txt, {"v=spf1 a -all"});
  dns.add("pm._spf.mx.example.com", DnsType::A, {"127.0.0.2"});
  auto outcome = check(dns, "192.0.2.129", "postmaster@mx.example.com");
  CHECK(outcome.result == CheckResult::Pass);
  dns.add("mx.example.com", DnsType::Txt, {"v=spf1 exists:%{l1r-}._spf.%{d} -all"});
  dns.add("postmaster._spf.mx.example.com", DnsType::A, {"127.0.0.2"});
  CHECK(check(dns, "192.0.2.200", "mx.example.com", "mx.example.com").result == CheckResult::Pass);
}

TEST_CASE("spf check: answers arriving later give the same results") {
  auto dns = appendixA();
  dns.deferred = true;
  dns.add("_spf.example.net", DnsType::Txt, {"v=spf1 mx:example.org ptr:example.com -all"});
  dns.add("example.com", DnsType::Txt, {"v=spf1 a include:_spf.example.net ~all"});
  CHECK(check(dns, "192.0.2.140", "user@example.com").result == CheckResult::Pass);
  CHECK(check(dns, "192.0.2.65", "user@example.com").result == CheckResult::Pass);
  CHECK(check(dns, "192.0.2.66", "user@example.com").result == CheckResult::Pass);
  CHECK(check(dns, "192.0.2.99", "user@example.com").result == CheckResult::SoftFail);
}

TEST_CASE("spf check: a client address that is not an IP address is refused") {
  auto dns = appendixA();
  CHECK(check(dns, "not-an-ip", "user@example.com").result == CheckResult::PermError);
}
