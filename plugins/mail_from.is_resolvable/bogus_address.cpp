#include "plugins/mail_from.is_resolvable/bogus_address.hpp"

#include "common/util/cidr.hpp"
#include "common/util/local_address.hpp"

namespace upesi::plugins::mail_from_is_resolvable {

BogusAddress::BogusAddress(const std::string& ipv4_pattern)
    : ipv4_(ipv4_pattern, std::regex::ECMAScript | std::regex::optimize) {}

bool BogusAddress::operator()(std::string_view ip) const {
  auto parsed = util::IpAddress::parse(ip);
  if (!parsed) {
    return true;
  }
  if (ip.find(':') == std::string_view::npos) {
    return std::regex_search(ip.begin(), ip.end(), ipv4_);
  }
  // An IPv4-mapped address in an AAAA record is no IPv6 unicast address either.
  return !parsed->v6 || isNonPublicAddress(ip);
}

} // namespace upesi::plugins::mail_from_is_resolvable
