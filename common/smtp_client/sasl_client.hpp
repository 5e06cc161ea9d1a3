// The client side of SMTP AUTH (RFC 4954): choosing a mechanism among those the server offers,
// and the responses of PLAIN (RFC 4616), LOGIN and CRAM-MD5 (RFC 2195). Pure: the SmtpClient
// sends the lines and reads the replies.
#pragma once

#include "common/util/result.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::smtp_client {

enum class SaslMechanism { CramMd5, Plain, Login };

/// "CRAM-MD5", "PLAIN", "LOGIN".
const char* toString(SaslMechanism mechanism);
/// The mechanism a name (any case) stands for, if we speak it.
std::optional<SaslMechanism> saslMechanismFromName(std::string_view name);

/// The mechanisms of an EHLO line's AUTH arguments ("PLAIN login CRAM-MD5"), upper-cased, each
/// once, in the server's order.
std::vector<std::string> parseAuthMechanisms(std::string_view arguments);

/// The mechanism to use: `forced` (a name; empty: none) if the server offers it, else the best
/// one offered, as Haraka prefers them: CRAM-MD5 (no password on the wire), PLAIN, LOGIN. An
/// error says why none fits.
Result<SaslMechanism> chooseSaslMechanism(const std::vector<std::string>& offered,
                                          std::string_view forced);

/// One AUTH exchange. The lines it gives hold credentials: never log them.
class SaslClient {
public:
  SaslClient(SaslMechanism mechanism, std::string user, std::string password);

  SaslMechanism mechanism() const { return mechanism_; }
  /// "AUTH PLAIN <initial response>", "AUTH LOGIN", "AUTH CRAM-MD5".
  std::string command() const;
  /// The line answering a 334 whose text is `challenge` (base64), or an error when the
  /// challenge is not base64 or the mechanism has nothing more to say.
  Result<std::string> respond(std::string_view challenge);

private:
  SaslMechanism mechanism_;
  std::string user_;
  std::string password_;
  int step_ = 0; // 334 challenges answered so far
};

} // namespace upesi::smtp_client
