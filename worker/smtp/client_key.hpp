// The key under which the per-IP limits (connections, AUTH failures) count a client: its IPv4
// address, or for IPv6 its /N network, since one host usually holds a whole /64 and could
// otherwise take a fresh address for every connection.
#pragma once

#include <string>
#include <string_view>

namespace upesi::smtp {

/// "192.0.2.1" for IPv4 and IPv4-mapped IPv6 ("::ffff:192.0.2.1"); "2001:db8:1:2::/64" for
/// IPv6 with ipv6_prefix 64. Text that is no address is its own key.
std::string clientKey(std::string_view ip, unsigned ipv6_prefix);

} // namespace upesi::smtp
