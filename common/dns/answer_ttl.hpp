// How long a DNS answer may be kept, read from the raw message: the smallest TTL in the answer
// section, or for a negative answer (NXDOMAIN, no records) the SOA's TTL and MINIMUM in the
// authority section (RFC 2308 section 5). c-ares's parsers drop most TTLs (MX, TXT, PTR), hence
// our own walk over the message.
#pragma once

#include <cstdint>
#include <optional>

namespace upesi::dns {

/// The answer's lifetime in seconds, or nullopt when the message says none (a negative answer
/// without SOA) or is malformed. Never reads past `length`.
std::optional<std::uint32_t> answerTtl(const unsigned char* message, int length);

} // namespace upesi::dns
