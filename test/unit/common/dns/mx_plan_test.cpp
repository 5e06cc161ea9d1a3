#include "common/dns/mx_plan.hpp"

#include <doctest/doctest.h>

using namespace upesi;
using namespace upesi::dns;

TEST_CASE("mx plan: sorted hosts, implicit MX, null MX, no domain, temporary failure") {
  DnsResult ok{
      DnsStatus::Ok, "", {{"mx2.example", 20, 0}, {"mx1.example", 10, 0}, {"mx3.example", 20, 0}}};
  auto plan = planFromMxAnswer("example.net", ok);
  CHECK((plan.kind == MxPlan::Kind::Hosts));
  REQUIRE(plan.hosts.size() == 3);
  CHECK(plan.hosts[0].exchange == "mx1.example");
  CHECK(plan.hosts[1].exchange == "mx2.example");
  CHECK(plan.hosts[2].exchange == "mx3.example");

  auto implicit = planFromMxAnswer("example.net", DnsResult{DnsStatus::NoData, "", {}});
  CHECK((implicit.kind == MxPlan::Kind::Implicit));
  REQUIRE(implicit.hosts.size() == 1);
  CHECK(implicit.hosts[0].exchange == "example.net");

  auto null_mx = planFromMxAnswer("example.net", DnsResult{DnsStatus::Ok, "", {{"", 0, 0}}});
  CHECK((null_mx.kind == MxPlan::Kind::NullMx));
  auto null_dot = planFromMxAnswer("example.net", DnsResult{DnsStatus::Ok, "", {{".", 0, 0}}});
  CHECK((null_dot.kind == MxPlan::Kind::NullMx));

  auto nx = planFromMxAnswer("nope.example", DnsResult{DnsStatus::NxDomain, "nx", {}});
  CHECK((nx.kind == MxPlan::Kind::NoDomain));
  CHECK(nx.reason.find("No Such Domain") != std::string::npos);

  auto fail = planFromMxAnswer("x.example", DnsResult{DnsStatus::ServFail, "servfail", {}});
  CHECK((fail.kind == MxPlan::Kind::TempFail));
}
