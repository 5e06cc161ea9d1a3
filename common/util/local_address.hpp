// Whether an IP address is somewhere outbound mail must not go on its own: this host, or a
// network that is not the public Internet (outbound.ini local_mx_ok).
#pragma once

#include <string_view>

namespace upesi {

/// True unless `ip` (IPv4 or IPv6 text, brackets allowed) is a public unicast address: loopback,
/// "this network" (0/8, ::), private, shared (100.64/10), link-local, unique-local, site-local,
/// multicast and reserved ranges, and the IPv6 forms that carry such an IPv4 address (mapped,
/// compatible, NAT64, 6to4). Text that is not an address counts as non-public.
bool isNonPublicAddress(std::string_view ip);

/// True if `ip` is assigned to one of this host's interfaces (a public address of our own is
/// a loop just the same).
bool isThisHostAddress(std::string_view ip);

} // namespace upesi
