// MxResolver: where mail goes, as addresses to connect to. For a domain, its MX records read as
// a plan (mx_plan); for a list of MX hosts, their addresses in the order to try them; for a
// forward's next hop, one address. Asynchronous on whatever answers DNS questions: the worker's
// c-ares resolver, a plugin's Host::dnsQuery, or a test's table of answers.
//
// Threading: the thread its lookup answers on (the loop's). A lookup keeps what it needs
// itself, so the MxResolver may go away before the answers come.
#pragma once

#include <upesi/dns.hpp>

#include "common/dns/mx_host.hpp"
#include "common/dns/mx_plan.hpp"
#include "common/util/result.hpp"

#include <functional>
#include <string>
#include <vector>

namespace upesi::dns {

/// Asks one DNS question; the answer comes to `done`, at once or later.
using DnsLookup = std::function<void(const std::string& name, DnsType type, DnsCallback done)>;

struct MxTarget {
  MxHost mx;
  std::string ip;
};

/// Which of a host's addresses are tried.
struct TargetRules {
  bool ipv6 = false;       // AAAA as well as A, the IPv6 addresses first (ipv6_enabled)
  bool skip_local = false; // leave out addresses of this host or not public (an MX from DNS)
};

struct MxTargets {
  std::vector<MxTarget> targets; // in the order to try
  std::vector<MxTarget> skipped; // addresses TargetRules::skip_local left out
  std::string error;             // the last host found without an address, and why
};

class MxResolver {
public:
  explicit MxResolver(DnsLookup lookup);

  /// The MX records of `domain` as a plan.
  void lookupMx(const std::string& domain, std::function<void(MxPlan)> done) const;

  /// The addresses of `hosts`, host by host in their order: an IP literal is its own address;
  /// a name's AAAA records (when rules.ipv6) come before its A records.
  void lookupTargets(std::vector<MxHost> hosts, TargetRules rules,
                     std::function<void(MxTargets)> done) const;

  /// One address for a next hop: an IP literal is its own, "localhost" is 127.0.0.1, else the
  /// first A record, else (no A record) the first AAAA. The error says why there is none.
  void lookupNextHop(const std::string& host, std::function<void(Result<std::string>)> done) const;

private:
  DnsLookup lookup_;
};

} // namespace upesi::dns
