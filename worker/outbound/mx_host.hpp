// Where a domain's mail goes: the MX hosts in the order to try, each as Haraka's HarakaMx
// (exchange, priority, port, LMTP, source address and HELO, AUTH for a smart host).
#pragma once

#include <upesi/dns.hpp>

#include "common/util/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::outbound {

struct MxHost {
  std::string exchange; // host name or IP literal (no brackets)
  unsigned priority = 0;
  std::uint16_t port = 25;
  bool using_lmtp = false;
  std::string bind;      // local address to connect from; empty: any
  std::string bind_helo; // EHLO name; empty: config/me
  std::string auth_user;
  std::string auth_pass;
  std::string auth_type;
  // Without a usable AUTH mechanism at the next hop: false sends without AUTH (logged, as
  // Haraka does); true defers the mail instead.
  bool auth_required = false;
};

/// Parses what a get_mx plugin answers, one line per MX: "host", "host:port", "[v6addr]:port",
/// "smtp://[user:pass@]host[:port]", "lmtp://host[:port]" (port 24), or a JSON object with
/// Haraka's HarakaMx fields (exchange, priority, port, bind, bind_helo, using_lmtp, auth_user,
/// auth_pass, auth_type) and ours, auth_required; bind_ehlo (the name Haraka's Outbound.md
/// gives) is taken as bind_helo, which wins if both differ (a warning). In JSON, a field that is
/// absent or null takes its default; one of the wrong type, a port outside 1..65535 or a
/// priority outside 0..65535 is an error naming it. An error or warning names the answer as
/// shownSpec does.
Result<MxHost> parseMxSpec(const std::string& spec, std::vector<std::string>* warnings = nullptr);

/// A get_mx answer as a log line may show it: quoted, the password (smtp://user:password@...,
/// JSON auth_pass) replaced by "***", the user kept. JSON that does not parse is shown only if
/// it cannot hold a password.
std::string shownSpec(std::string_view spec);

/// The result of an MX lookup, as what to do next.
struct MxPlan {
  enum class Kind { Hosts, NullMx, Implicit, NoDomain, TempFail } kind = Kind::Hosts;
  std::vector<MxHost> hosts; // for Hosts, sorted by priority
  std::string reason;
};

/// Turns an MX answer into a plan: sorted hosts; RFC 7505 null MX (one record "." or empty at
/// priority 0) bounces; no MX records (NoData) means the domain itself is the MX (implicit);
/// NXDOMAIN bounces; other failures are temporary.
MxPlan planFromMxAnswer(const std::string& domain, const DnsResult& answer);

} // namespace upesi::outbound
