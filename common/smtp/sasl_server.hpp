// The server side of the SASL mechanisms SMTP AUTH offers (RFC 4954): PLAIN (RFC 4616),
// LOGIN and CRAM-MD5 (RFC 2195). Pure functions over decoded responses; the session does the
// exchange and the base64.
#pragma once

#include "common/util/result.hpp"

#include <string>
#include <string_view>

namespace upesi::smtp {

struct SaslCredentials {
  std::string user;
  std::string password; // PLAIN/LOGIN
  std::string digest;   // CRAM-MD5: the client's hex HMAC-MD5, lower case
};

/// "authzid NUL authcid NUL passwd". An authzid naming someone else (proxy authorization) is
/// refused: nobody may act as another user here.
Result<SaslCredentials> parsePlainResponse(std::string_view decoded);

/// "user SP hexdigest".
Result<SaslCredentials> parseCramMd5Response(std::string_view decoded);

/// "<random.time@host>", unique per exchange.
std::string cramMd5Challenge(std::string_view host);

/// HMAC-MD5(secret, challenge) in lower-case hex.
std::string cramMd5Digest(std::string_view challenge, std::string_view secret);

/// Equal contents, compared in time that depends only on the lengths.
bool constantTimeEquals(std::string_view a, std::string_view b);

} // namespace upesi::smtp
