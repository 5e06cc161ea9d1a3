#include "plugins/fcrdns/fcrdns_rules.hpp"

#include "common/util/cidr.hpp"
#include "plugins/support/host_names.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace upesi::plugins::fcrdns {

GenericVerdict genericRdns(std::string_view ip, std::string_view name,
                           const auth::PublicSuffixList& list) {
  GenericVerdict verdict;
  if (name.empty() || !ipInHostName(ip, name, list)) {
    return verdict;
  }
  verdict.ip_in_name = true;
  const std::string organizational = knownOrganizationalDomain(list, name);
  if (organizational.empty()) {
    return verdict; // Haraka logs and lets it be: nothing to compare the name against
  }
  // As Haraka: the first labels of the name, one more than the organizational domain has,
  // excuse it when they say static or business.
  const auto domain_labels = std::count(organizational.begin(), organizational.end(), '.') + 1;
  std::string leading;
  std::size_t start = 0;
  for (long i = 0; i <= domain_labels && start <= name.size(); ++i) {
    auto dot = name.find('.', start);
    leading += std::string(name.substr(start, dot == std::string_view::npos ? dot : dot - start));
    leading += ',';
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  verdict.generic =
      leading.find("static") == std::string::npos && leading.find("business") == std::string::npos;
  return verdict;
}

PtrMatch comparePtrAddresses(std::string_view ip, const std::vector<std::string>& addresses) {
  if (addresses.empty()) {
    return PtrMatch::None;
  }
  if (std::find(addresses.begin(), addresses.end(), ip) != addresses.end()) {
    return PtrMatch::Exact;
  }
  for (const auto& address : addresses) {
    if (sameIpv4Slash24(ip, address)) {
      return PtrMatch::Network;
    }
  }
  return PtrMatch::None;
}

std::string reverseName(std::string_view ip) {
  auto address = util::IpAddress::parse(ip);
  if (!address) {
    return {};
  }
  std::string name;
  if (!address->v6) {
    for (int i = 3; i >= 0; --i) {
      name += fmt::format("{}.", address->bytes[static_cast<std::size_t>(i)]);
    }
    return name + "in-addr.arpa";
  }
  constexpr std::string_view Hex = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    const auto byte = address->bytes[static_cast<std::size_t>(i)];
    name += Hex[byte & 0xf];
    name += '.';
    name += Hex[byte >> 4];
    name += '.';
  }
  return name + "ip6.arpa";
}

} // namespace upesi::plugins::fcrdns
