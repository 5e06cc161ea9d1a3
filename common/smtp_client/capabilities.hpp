// Capabilities: what a server says it supports, read from its reply to EHLO or LHLO (RFC 5321
// §4.1.1.1): the greeting line, then one extension a line, a keyword and its arguments
// ("SIZE 10240000", "AUTH PLAIN LOGIN", "AUTH=LOGIN"). Keywords are matched in any case; an
// unknown one is only listed. Pure: the reply's text is the server's, so every value is checked.
#pragma once

#include "common/smtp_client/reply_parser.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace upesi::smtp_client {

/// What the server said it supports (in its EHLO/LHLO reply; nothing after HELO).
struct Capabilities {
  bool esmtp = false;
  bool pipelining = false;
  bool size = false;
  std::uint64_t size_limit = 0; ///< 0: no limit given (or none we could read)
  bool eight_bit_mime = false;
  bool smtputf8 = false;
  bool starttls = false;
  bool enhanced_status_codes = false;
  bool dsn = false;                    ///< RFC 3461
  bool requiretls = false;             ///< RFC 8689
  bool mt_priority = false;            ///< RFC 6710
  std::vector<std::string> auth;       ///< mechanisms, upper-cased, each once
  std::vector<std::string> extensions; ///< every keyword line as sent, after the greeting line
};

/// The capabilities of a positive reply to EHLO or LHLO. A SIZE whose argument is not a number
/// that fits in 64 bits reads as SIZE without a limit.
Capabilities parseCapabilities(const ServerReply& ehlo_reply);

} // namespace upesi::smtp_client
