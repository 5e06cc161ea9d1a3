#include "plugins/dns-list/query_name.hpp"

#include "common/util/cidr.hpp"

#include <fmt/format.h>

namespace upesi::plugins::dns_list {

std::optional<std::string> queryName(std::string_view ip, std::string_view zone) {
  auto address = util::IpAddress::parse(ip);
  if (!address) {
    return std::nullopt;
  }
  std::string name;
  if (!address->v6) {
    const auto& b = address->bytes;
    name = fmt::format("{}.{}.{}.{}", b[3], b[2], b[1], b[0]);
  } else {
    static constexpr char Hex[] = "0123456789abcdef";
    for (auto byte = address->bytes.rbegin(); byte != address->bytes.rend(); ++byte) {
      name += Hex[*byte & 0x0f];
      name += '.';
      name += Hex[*byte >> 4];
      name += '.';
    }
    name.pop_back();
  }
  return fmt::format("{}.{}", name, zone);
}

bool isIpv6Client(std::string_view ip) {
  auto address = util::IpAddress::parse(ip);
  return address && address->v6;
}

} // namespace upesi::plugins::dns_list
