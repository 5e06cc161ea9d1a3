// What DANE (RFC 7672 2.2) asks of DNS before a delivery: whether the MX RRset is secure
// (DNSSEC-validated: the AD bit of a resolver trusted to validate), and for each MX host whose
// address records are secure, its TLSA records at _<port>._tcp.<host>. The answer for a host
// says what TLS the connection needs: none of DANE's (insecure, or no TLSA records), TLS
// authenticated by the records, TLS without authentication (records, none usable), or no
// connection at all (the lookup failed: a host that may publish TLSA records must not get the
// mail in clear because DNS failed once).
//
// Threading: the thread the lookups answer on (the loop's).
#pragma once

#include "common/dns/mx_plan.hpp"
#include "common/dns/resolver.hpp"
#include "common/dns/tlsa.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace upesi::dns {

/// Asks one question with AD and DO set (Resolver::queryAuthenticated, or a test's table).
using AuthenticatedLookup =
    std::function<void(const std::string& name, unsigned type, Resolver::RawCallback done)>;

/// The MX plan of `domain`, and whether the answer was authenticated (an MX RRset, or the
/// proof that there is none, validated).
void lookupSecureMx(const AuthenticatedLookup& lookup, const std::string& domain,
                    std::function<void(MxPlan plan, bool secure)> done);

struct DaneRequirement {
  enum class Kind {
    None,     ///< DANE does not apply: the host's records are not signed, or it has no TLSA
    Usable,   ///< TLS whose certificate matches one of `records`
    Unusable, ///< TLSA records, none usable (RFC 7672 2.2): TLS, unauthenticated
    Failed,   ///< DNS failed: no connection to this host this time
  };
  Kind kind = Kind::None;
  std::vector<TlsaRecord> records; ///< Usable: the DANE-TA and DANE-EE records
  std::string reason;              ///< why: for the log and, when Failed, the deferral
};

/// Whether DANE-TA (2) or DANE-EE (3) with a selector and matching type OpenSSL knows: the
/// records RFC 7672 3.1 lets SMTP use.
bool usableForSmtp(const TlsaRecord& record);

/// The requirement for `host` (a name, not an address) on `port`: its A records' AD bit, then
/// (when secure) its TLSA records'.
void lookupDane(const AuthenticatedLookup& lookup, const std::string& host, std::uint16_t port,
                std::function<void(DaneRequirement)> done);

/// Reads one answer of lookupDane's TLSA question (public for the tests).
DaneRequirement requirementFromTlsa(const std::string& qname, const Resolver::RawAnswer& answer);

} // namespace upesi::dns
