// What helo.checks and fcrdns ask of a host name, as Haraka's net-utils and tld modules answer
// it: the organizational domain of a name with a known top-level domain, whether a client's
// IPv4 address is written into a name (a "dynamic" or generic name), and /24 neighbours.
#pragma once

#include "common/auth/public_suffix.hpp"

#include <memory>
#include <string>
#include <string_view>

namespace upesi::plugins {

/// Haraka's get_organizational_domain: `name`'s registrable domain, lower-case; "" when its
/// top-level domain is unknown to `list`, when it is itself a public suffix, or malformed.
std::string knownOrganizationalDomain(const auth::PublicSuffixList& list, std::string_view name);

/// Haraka's is_ip_in_str: true when IPv4 `ip` shows in the host part of `name` (the name
/// without its known TLD and the label above it): its last two octets, its first two, or its
/// four bytes in hex. Always false for IPv6.
bool ipInHostName(std::string_view ip, std::string_view name, const auth::PublicSuffixList& list);

/// Haraka's same_ipv4_network: both IPv4 and their first three octets equal.
bool sameIpv4Slash24(std::string_view a, std::string_view b);

/// The public suffix list at `path`, loaded once per process and shared; an empty list (only
/// the default rule) when it cannot be read, with the reason in `error`.
std::shared_ptr<const auth::PublicSuffixList> sharedSuffixList(const std::string& path,
                                                               std::string& error);

} // namespace upesi::plugins
