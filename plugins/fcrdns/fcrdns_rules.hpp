// The pure parts of fcrdns: whether a PTR name is generic (the client's address written into
// it) and whether a name's addresses confirm the client, as Haraka's fcrdns decides them.
#pragma once

#include "common/auth/public_suffix.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace upesi::plugins::fcrdns {

struct GenericVerdict {
  bool ip_in_name = false; ///< the address shows in the name (results: fail is_generic_rdns)
  bool generic = false;    ///< and the name is not excused as static or business
};

/// Haraka's is_generic_rdns for client `ip` and PTR name `name`.
GenericVerdict genericRdns(std::string_view ip, std::string_view name,
                           const auth::PublicSuffixList& list);

enum class PtrMatch {
  None,    ///< no address of the name is the client's
  Exact,   ///< the client's address is among them (pass: fcrdns)
  Network, ///< an IPv4 address in the client's /24 (pass: fcrdns(net))
};

/// Haraka's ptr_compare: how a PTR name's forward addresses confirm client `ip`.
PtrMatch comparePtrAddresses(std::string_view ip, const std::vector<std::string>& addresses);

/// The in-addr.arpa or ip6.arpa name to ask for `ip`'s PTR records; "" if it is no address.
std::string reverseName(std::string_view ip);

} // namespace upesi::plugins::fcrdns
