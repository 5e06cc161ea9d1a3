#include "common/dns/mx_plan.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace upesi::dns {

MxPlan planFromMxAnswer(const std::string& domain, const DnsResult& answer) {
  MxPlan plan;
  switch (answer.status) {
  case DnsStatus::Ok:
    break;
  case DnsStatus::NoData:
    plan.kind = MxPlan::Kind::Implicit;
    plan.hosts.push_back(MxHost{domain, 0, 25, false, {}, {}, {}, {}, {}});
    return plan;
  case DnsStatus::NxDomain:
    plan.kind = MxPlan::Kind::NoDomain;
    plan.reason = fmt::format("No Such Domain: {}", domain);
    return plan;
  default:
    plan.kind = MxPlan::Kind::TempFail;
    plan.reason = fmt::format("DNS lookup failure for {}: {}", domain, answer.error);
    return plan;
  }
  if (answer.records.size() == 1 &&
      (answer.records[0].value.empty() || answer.records[0].value == ".") &&
      answer.records[0].priority == 0) {
    plan.kind = MxPlan::Kind::NullMx;
    plan.reason = fmt::format("{} does not accept mail (null MX, RFC 7505)", domain);
    return plan;
  }
  for (const auto& record : answer.records) {
    if (record.value.empty() || record.value == ".") {
      continue;
    }
    plan.hosts.push_back(MxHost{record.value, record.priority, 25, false, {}, {}, {}, {}, {}});
  }
  std::stable_sort(plan.hosts.begin(), plan.hosts.end(),
                   [](const MxHost& a, const MxHost& b) { return a.priority < b.priority; });
  if (plan.hosts.empty()) {
    plan.kind = MxPlan::Kind::NullMx;
    plan.reason = fmt::format("{} has no usable MX", domain);
  }
  return plan;
}

} // namespace upesi::dns
