// Whether a host name is an IP address written out: such a name gets no SNI (RFC 6066 section
// 3) and needs no DNS lookup.
#pragma once

#include <string>

namespace upesi {

/// True for IPv4 dotted-quad or IPv6 text, without brackets.
bool isIpLiteral(const std::string& host);

} // namespace upesi
