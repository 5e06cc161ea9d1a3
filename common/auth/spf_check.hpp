// check_host() of RFC 7208 section 4: the SPF result for a client address, a sender and a
// domain, evaluated asynchronously over DNS lookups the caller provides (the worker's c-ares
// resolver; tests give a table). Every limit of section 4.6.4 holds: 10 terms that query DNS,
// 2 void lookups, 10 MX names per mx and 10 PTR names per ptr.
#pragma once

#include <upesi/dns.hpp>

#include "common/auth/spf_record.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace upesi::spf {

enum class CheckResult { None, Neutral, Pass, Fail, SoftFail, TempError, PermError };

/// The result's name as RFC 7208 and RFC 8601 write it: "pass", "softfail", "permerror"...
std::string_view resultName(CheckResult result);

struct CheckRequest {
  std::string client_ip; // IPv4 or IPv6 text; an IPv4-mapped IPv6 address counts as IPv4
  std::string sender;    // MAIL FROM's address, or "postmaster@<helo>" for the HELO check
  std::string helo;
  std::string domain;   // the <domain> checked first: the sender's domain, or the HELO name
  std::string receiver; // this server's name, for the r macro
  std::int64_t now = 0; // for the t macro
};

struct CheckLimits {
  unsigned lookups = 10;     // terms that query DNS: include, a, mx, ptr, exists, redirect
  unsigned void_lookups = 2; // answers with no records, or NXDOMAIN
  unsigned mx_names = 10;    // an mx mechanism with more MX records is a permerror
  unsigned ptr_names = 10;   // PTR names looked at for ptr and the p macro
};

struct CheckOutcome {
  CheckResult result = CheckResult::None;
  std::string domain;      // the <domain> the result is for (the one checked first)
  std::string mechanism;   // the directive that matched, as written; "" for the default result
  std::string problem;     // why, for temperror, permerror and none
  std::string explanation; // for fail: the exp= text, expanded, or "" when none was published
  unsigned lookups = 0;
  unsigned void_lookups = 0;
};

/// How the evaluation asks DNS; the callback may run inline or later, once.
using DnsLookup = std::function<void(const std::string& name, DnsType type, DnsCallback callback)>;

/// Runs check_host(). `done` runs once, inline or from a lookup callback; the evaluation keeps
/// itself alive until then.
void checkHost(CheckRequest request, DnsLookup lookup, std::function<void(CheckOutcome)> done,
               CheckLimits limits = {});

} // namespace upesi::spf
