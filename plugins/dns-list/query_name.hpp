// The name a DNS list is asked for a client's address (RFC 5782 section 2.1 and 2.4).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace upesi::plugins::dns_list {

/// "4.3.2.1.<zone>" for 1.2.3.4; for IPv6 the 32 nibbles reversed. An IPv4-mapped IPv6
/// address (::ffff:1.2.3.4) is asked as IPv4. Nullopt if `ip` is not an address.
std::optional<std::string> queryName(std::string_view ip, std::string_view zone);

/// True if `ip` is an IPv6 address other than an IPv4-mapped one.
bool isIpv6Client(std::string_view ip);

} // namespace upesi::plugins::dns_list
