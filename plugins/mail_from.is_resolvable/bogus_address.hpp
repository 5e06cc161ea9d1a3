// Which MX addresses cannot be where a sender's mail comes from or goes back to, as Haraka's
// mail_from.is_resolvable judges them: IPv4 by the operator's re_bogus_ip, IPv6 when it is not a
// public unicast address.
#pragma once

#include <regex>
#include <string>
#include <string_view>

namespace upesi::plugins::mail_from_is_resolvable {

/// Haraka's default re_bogus_ip: "this host", broadcast and loopback.
inline constexpr std::string_view DefaultBogusIpPattern =
    R"(^(?:0\.0\.0\.0|255\.255\.255\.255|127\.))";

class BogusAddress {
public:
  /// Compiles `ipv4_pattern` (searched, as JavaScript's RegExp.test does); throws
  /// std::regex_error when it does not compile.
  explicit BogusAddress(const std::string& ipv4_pattern = std::string(DefaultBogusIpPattern));

  /// True if `ip` is no use as a mail server's address; text that is not an address is bogus.
  bool operator()(std::string_view ip) const;

private:
  std::regex ipv4_;
};

} // namespace upesi::plugins::mail_from_is_resolvable
