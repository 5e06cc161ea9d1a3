// What DANE (RFC 7672) needs of DNS: TLSA records (RFC 6698) and whether the resolver
// authenticated the answer (the AD bit, RFC 4035 3.2.3), which c-ares 1.18 parses neither of;
// and the query that asks for them: recursion desired, AD set (RFC 6840 5.7), EDNS0 with DO
// (RFC 3225), so that a validating resolver says what it validated.
#pragma once

#include "common/util/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace upesi::dns {

constexpr unsigned RecordTypeTlsa = 52;

struct TlsaRecord {
  std::uint8_t usage = 0;    ///< 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE
  std::uint8_t selector = 0; ///< 0 the whole certificate, 1 its SubjectPublicKeyInfo
  std::uint8_t matching = 0; ///< 0 the data itself, 1 SHA2-256, 2 SHA2-512
  std::string data;          ///< the certificate association data, binary
  bool operator==(const TlsaRecord&) const = default;
};

struct TlsaAnswer {
  unsigned rcode = 0;         ///< 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN...
  bool authenticated = false; ///< the AD bit
  std::vector<TlsaRecord> records;
  std::uint32_t ttl = 0; ///< the smallest of the records'
};

/// The TLSA records of the answer section of `message` (a CNAME chain's too), or nullopt if
/// the message is malformed or a record is too short to be TLSA.
std::optional<TlsaAnswer> parseTlsaAnswer(const unsigned char* message, int length);

/// The AD bit and RCODE of `message`; nullopt if it has no header.
std::optional<std::pair<bool, unsigned>> authenticatedAndRcode(const unsigned char* message,
                                                               int length);

/// A query for `name` and record type `type` with RD, AD, and EDNS0 (`udp_size`, DO set).
/// An error for a name that cannot go in a query (an empty or over-long label, over 255 octets).
Result<std::string> authenticatedQuery(const std::string& name, unsigned type, std::uint16_t id = 0,
                                       unsigned udp_size = 1232);

} // namespace upesi::dns
