// An MX answer read as what to do next: the hosts in the order to try, or why there are none.
#pragma once

#include <upesi/dns.hpp>

#include "common/dns/mx_host.hpp"

#include <string>
#include <vector>

namespace upesi::dns {

struct MxPlan {
  enum class Kind { Hosts, NullMx, Implicit, NoDomain, TempFail } kind = Kind::Hosts;
  std::vector<MxHost> hosts; // for Hosts, sorted by priority
  std::string reason;
};

/// Turns an MX answer into a plan: sorted hosts; RFC 7505 null MX (one record "." or empty at
/// priority 0) bounces; no MX records (NoData) means the domain itself is the MX (implicit);
/// NXDOMAIN bounces; other failures are temporary.
MxPlan planFromMxAnswer(const std::string& domain, const DnsResult& answer);

} // namespace upesi::dns
