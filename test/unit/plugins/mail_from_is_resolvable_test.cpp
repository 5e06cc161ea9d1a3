#include "plugins/mail_from.is_resolvable/bogus_address.hpp"
#include "test/support/fake_connection.hpp"
#include "test/support/plugin_harness.hpp"

#include <doctest/doctest.h>

using namespace upesi;
using namespace upesi::test;
using upesi::plugins::mail_from_is_resolvable::BogusAddress;

namespace {

constexpr const char* PluginName = "mail_from.is_resolvable";

DnsResult mxAnswer(std::vector<std::pair<std::string, unsigned>> records) {
  DnsResult result{DnsStatus::Ok, "", {}};
  for (auto& [exchange, preference] : records) {
    result.records.push_back({exchange, preference, 0});
  }
  return result;
}

DnsResult failure(DnsStatus status) {
  return DnsResult{status, "failed", {}};
}

struct Setup {
  PluginHarness h{PluginName};
  FakeConnection c;

  explicit Setup(const std::string& ini = "") {
    if (!ini.empty()) {
      h.host.writeConfig("mail_from.is_resolvable.ini", ini);
    }
    h.load();
  }
  // The MAIL answer as "CODE text".
  std::string mail(const std::string& domain) {
    auto from = makeAddress("user", domain);
    c.begin(from);
    auto a = h.callWith(Hook::Mail, c, from);
    if (a->calls != 1) {
      return "unanswered";
    }
    return a->text().empty() ? a->name() : a->name() + " " + a->text();
  }
  const nlohmann::json& results() { return c.txn().results().get(PluginName); }
};

} // namespace

TEST_CASE("plugins/mail_from.is_resolvable: bogus addresses, IPv4 by the pattern") {
  BogusAddress haraka_default;
  CHECK(haraka_default("127.0.0.1"));
  CHECK(haraka_default("0.0.0.0"));
  CHECK(haraka_default("255.255.255.255"));
  CHECK_FALSE(haraka_default("10.1.2.3")); // private is fine unless the pattern says so
  CHECK_FALSE(haraka_default("192.0.2.1"));
  CHECK_FALSE(haraka_default("8.8.8.8"));
  CHECK(haraka_default("::1"));
  CHECK(haraka_default("::"));
  CHECK(haraka_default("fe80::1"));
  CHECK(haraka_default("fd00::1"));
  CHECK(haraka_default("::ffff:8.8.8.8")); // mapped: not a unicast IPv6 address
  CHECK_FALSE(haraka_default("2a00:1450:4001::1b"));
  CHECK(haraka_default("not-an-ip"));
  CHECK(haraka_default(""));

  BogusAddress private_too(R"(^(?:0\.|127\.|10\.|192\.168\.))");
  CHECK(private_too("10.1.2.3"));
  CHECK(private_too("192.168.0.5"));
  CHECK_FALSE(private_too("192.169.0.5"));
  CHECK_THROWS_AS(BogusAddress("^(unclosed"), std::regex_error);
}

TEST_CASE("plugins/mail_from.is_resolvable: an MX host with a usable address passes") {
  Setup s;
  s.h.host.dns.set("good.example", DnsType::Mx, mxAnswer({{"mx.good.example", 10}}));
  s.h.host.dns.setAddresses("mx.good.example", DnsType::A, {"192.0.2.25"});
  s.h.host.dns.set("mx.good.example", DnsType::Aaaa, failure(DnsStatus::NoData));
  CHECK(s.mail("good.example") == "CONT");
  CHECK(s.c.txn().results().has(PluginName, "pass", "has_fwd_dns"));
}

TEST_CASE("plugins/mail_from.is_resolvable: implicit MX, an A or only an AAAA record") {
  Setup s;
  s.h.host.dns.set("a-only.example", DnsType::Mx, failure(DnsStatus::NoData));
  s.h.host.dns.setAddresses("a-only.example", DnsType::A, {"192.0.2.7"});
  s.h.host.dns.set("a-only.example", DnsType::Aaaa, failure(DnsStatus::NoData));
  CHECK(s.mail("a-only.example") == "CONT");
  CHECK(s.c.txn().results().has(PluginName, "pass", "implicit_mx"));

  s.h.host.dns.set("v6.example", DnsType::Mx, failure(DnsStatus::NoData));
  s.h.host.dns.set("v6.example", DnsType::A, failure(DnsStatus::NoData));
  s.h.host.dns.setAddresses("v6.example", DnsType::Aaaa, {"2a00:1450:4001::1b"});
  CHECK(s.mail("v6.example") == "CONT");

  s.h.host.dns.set("nothing.example", DnsType::Mx, failure(DnsStatus::NoData));
  s.h.host.dns.set("nothing.example", DnsType::A, failure(DnsStatus::NoData));
  s.h.host.dns.set("nothing.example", DnsType::Aaaa, failure(DnsStatus::NoData));
  CHECK(s.mail("nothing.example") == "DENY No MX for your FROM address");
  CHECK(s.c.txn().results().has(PluginName, "fail", "has_fwd_dns"));
}

TEST_CASE("plugins/mail_from.is_resolvable: NXDOMAIN and null MX are refused, not deferred") {
  Setup s;
  s.h.host.dns.set("gone.example", DnsType::Mx, failure(DnsStatus::NxDomain));
  CHECK(s.mail("gone.example") == "DENY No MX for your FROM address");

  s.h.host.dns.set("null.example", DnsType::Mx, mxAnswer({{"", 0}}));
  CHECK(s.mail("null.example") == "DENY 5.7.27 Null MX: null.example does not send mail");
  CHECK(s.c.txn().results().has(PluginName, "fail", "null_mx"));
  s.h.host.dns.set("dot.example", DnsType::Mx, mxAnswer({{".", 0}}));
  CHECK(s.mail("dot.example") == "DENY 5.7.27 Null MX: dot.example does not send mail");
  // "." at another preference is no null MX, but still nowhere to go
  s.h.host.dns.set("dot10.example", DnsType::Mx, mxAnswer({{".", 10}}));
  CHECK(s.mail("dot10.example").rfind("DENY", 0) == 0);
}

TEST_CASE("plugins/mail_from.is_resolvable: MX hosts with only bogus addresses") {
  Setup s;
  s.h.host.dns.set("loop.example", DnsType::Mx, mxAnswer({{"mx.loop.example", 10}}));
  s.h.host.dns.setAddresses("mx.loop.example", DnsType::A, {"127.0.0.1"});
  s.h.host.dns.setAddresses("mx.loop.example", DnsType::Aaaa, {"::1"});
  s.h.host.dns.set("ten.example", DnsType::Mx, mxAnswer({{"mx.ten.example", 10}}));
  s.h.host.dns.setAddresses("mx.ten.example", DnsType::A, {"10.0.0.1"});
  s.h.host.dns.set("ten.example", DnsType::Aaaa, failure(DnsStatus::NoData));
  s.h.host.dns.set("mx.ten.example", DnsType::Aaaa, failure(DnsStatus::NoData));
  CHECK(s.mail("loop.example") == "DENY No valid MX for your FROM address");
  CHECK(s.mail("ten.example") == "CONT");

  Setup strict("[main]\nre_bogus_ip=^(?:127\\.|10\\.)\n[reject]\nno_mx=defer\n");
  strict.h.host.dns = s.h.host.dns;
  CHECK(strict.mail("ten.example") == "DENYSOFT No valid MX for your FROM address");

  Setup lenient("[reject]\nno_mx=no\n");
  lenient.h.host.dns = s.h.host.dns;
  CHECK(lenient.mail("loop.example") == "CONT");
  CHECK(lenient.c.txn().results().has(PluginName, "fail", "has_fwd_dns"));
}

TEST_CASE("plugins/mail_from.is_resolvable: an MX that is an IP address needs allow_mx_ip") {
  Setup s;
  s.h.host.dns.set("ipmx.example", DnsType::Mx, mxAnswer({{"192.0.2.9", 10}}));
  CHECK(s.mail("ipmx.example") == "DENY No valid MX for your FROM address");
  Setup allowed("[main]\nallow_mx_ip=true\n");
  allowed.h.host.dns = s.h.host.dns;
  CHECK(allowed.mail("ipmx.example") == "CONT");
  CHECK(allowed.c.txn().results().has(PluginName, "pass", "implicit_mx"));
  allowed.h.host.dns.set("ipmx.example", DnsType::Mx, mxAnswer({{"127.0.0.2", 10}}));
  CHECK(allowed.mail("ipmx.example") == "DENY No valid MX for your FROM address");
}

TEST_CASE("plugins/mail_from.is_resolvable: SERVFAIL defers, also for the MX host's address") {
  Setup s;
  s.h.host.dns.set("broken.example", DnsType::Mx, failure(DnsStatus::ServFail));
  CHECK(s.mail("broken.example") == "DENYSOFT Temp. resolver error (ESERVFAIL)");
  CHECK(s.results()["err"].size() == 1);

  s.h.host.dns.set("half.example", DnsType::Mx, mxAnswer({{"mx.half.example", 10}}));
  s.h.host.dns.set("mx.half.example", DnsType::Aaaa, failure(DnsStatus::Timeout));
  s.h.host.dns.set("mx.half.example", DnsType::A, failure(DnsStatus::ServFail));
  CHECK(s.mail("half.example") == "DENYSOFT Temp. resolver error (ESERVFAIL)");
  // one host answering is enough, whatever the others do
  s.h.host.dns.set("half.example", DnsType::Mx,
                   mxAnswer({{"mx.half.example", 10}, {"mx2.half.example", 20}}));
  s.h.host.dns.setAddresses("mx2.half.example", DnsType::A, {"192.0.2.30"});
  s.h.host.dns.set("mx2.half.example", DnsType::Aaaa, failure(DnsStatus::NoData));
  CHECK(s.mail("half.example") == "CONT");
}

TEST_CASE("plugins/mail_from.is_resolvable: no answer within timeout_ms defers once") {
  Setup s("[main]\ntimeout_ms=1500\n");
  s.h.host.dns.hold();
  auto from = makeAddress("user", "slow.example");
  s.c.begin(from);
  auto a = s.h.callWith(Hook::Mail, s.c, from);
  CHECK(a->calls == 0);
  CHECK(s.h.host.pendingDelays() == std::vector<std::uint64_t>{1500});
  s.h.host.runTimers();
  REQUIRE(a->calls == 1);
  CHECK(a->name() == "DENYSOFT");
  CHECK(a->text() == "Temp. resolver error (ETIMEOUT)");
  CHECK(s.results()["err"][0] == "MX lookup timed out after 1500ms");
  s.h.host.dns.answerNext(); // the late answer changes nothing
  CHECK(a->calls == 1);

  Setup legacy("[main]\ntimeout=3\n");
  legacy.h.host.dns.hold();
  legacy.mail("slow.example");
  CHECK(legacy.h.host.pendingDelays() == std::vector<std::uint64_t>{3000});
}

TEST_CASE("plugins/mail_from.is_resolvable: null sender, literals, relaying and auth skipped") {
  Setup s;
  Address null_sender;
  null_sender.is_null = true;
  s.c.begin(null_sender);
  auto a = s.h.callWith(Hook::Mail, s.c, null_sender);
  CHECK(a->name() == "CONT");
  CHECK(s.c.txn().results().has(PluginName, "skip", "null host"));
  CHECK(s.mail("[192.0.2.1]") == "CONT");
  s.c.end();
  s.c.setRelaying(true);
  CHECK(s.mail("gone.example") == "CONT");
  CHECK(s.c.txn().results().has(PluginName, "skip", "relay"));
  CHECK(s.h.host.dns.asked.empty());

  Setup checked("[skip]\nrelaying=false\n");
  checked.c.setRelaying(true);
  checked.h.host.dns.set("gone.example", DnsType::Mx, failure(DnsStatus::NxDomain));
  CHECK(checked.mail("gone.example") == "DENY No MX for your FROM address");
}

TEST_CASE("plugins/mail_from.is_resolvable: config reload and a bad pattern") {
  Setup s("[main]\nre_bogus_ip=^(broken\n");
  s.h.host.dns.set("loop.example", DnsType::Mx, mxAnswer({{"mx.loop.example", 10}}));
  s.h.host.dns.setAddresses("mx.loop.example", DnsType::A, {"127.0.0.1"});
  s.h.host.dns.set("mx.loop.example", DnsType::Aaaa, failure(DnsStatus::NoData));
  CHECK(s.mail("loop.example") == "DENY No valid MX for your FROM address"); // the default
  s.h.host.writeConfig("mail_from.is_resolvable.ini", "[main]\nre_bogus_ip=^0\\.\n");
  s.h.host.changed("mail_from.is_resolvable.ini");
  CHECK(s.mail("loop.example") == "CONT");
}

TEST_CASE("plugins/mail_from.is_resolvable: max_mx_hosts bounds the hosts resolved") {
  Setup s("[main]\nmax_mx_hosts=2\n");
  std::vector<std::pair<std::string, unsigned>> many;
  for (unsigned i = 0; i < 5; ++i) {
    many.push_back({"mx" + std::to_string(i) + ".many.example", i});
  }
  s.h.host.dns.set("many.example", DnsType::Mx, mxAnswer(many));
  s.h.host.dns.setAddresses("mx4.many.example", DnsType::A, {"192.0.2.4"});
  CHECK(s.mail("many.example") == "DENYSOFT Temp. resolver error (EREFUSED)");
  CHECK(s.h.host.dns.asked.size() == 5); // MX, then AAAA and A of two hosts
}

TEST_CASE("plugins/mail_from.is_resolvable: the older keys, and private clients when asked") {
  Setup legacy("[main]\nreject_no_mx=no\n");
  legacy.h.host.dns.set("gone.example", DnsType::Mx, failure(DnsStatus::NxDomain));
  CHECK(legacy.mail("gone.example") == "CONT");
  CHECK(legacy.c.txn().results().has(PluginName, "fail", "has_fwd_dns"));
  Setup both("[main]\nreject_no_mx=no\n[reject]\nno_mx=false\n"); // the new key wins
  both.h.host.dns = legacy.h.host.dns;
  CHECK(both.mail("gone.example") == "DENYSOFT No MX for your FROM address");

  Setup checked; // by default a private client's sender is checked like any other
  checked.c.remote_endpoint.is_private = true;
  checked.h.host.dns = legacy.h.host.dns;
  CHECK(checked.mail("gone.example") == "DENY No MX for your FROM address");
  Setup skipped("[skip]\nprivate_ip=true\n");
  skipped.c.remote_endpoint.is_private = true;
  CHECK(skipped.mail("gone.example") == "CONT");
  CHECK(skipped.c.txn().results().has(PluginName, "skip", "private_ip"));
}
