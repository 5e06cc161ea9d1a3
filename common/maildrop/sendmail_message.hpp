// What the `sendmail` entry point does with the message a program pipes to it, before the drop
// file is written: reading it as Sendmail does, and -t's recipients from its header.
#pragma once

#include "common/util/result.hpp"

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::maildrop {

/// Reads the message from `in` to its end, or, when `dot_ends_message`, to a line holding only
/// "." (not part of the message). An error past `max_bytes`, or on a read error.
Result<std::string> readMessage(std::FILE* in, bool dot_ends_message, std::uint64_t max_bytes);

struct HeaderRecipients {
  std::vector<std::string> recipients;
  std::string message; // without its Bcc (or Resent-Bcc) fields
};

/// -t: the addresses of To, Cc and Bcc, or of Resent-To, Resent-Cc and Resent-Bcc when the
/// message has any Resent- field (RFC 5322 3.6.6), as Postfix takes them; Bcc fields go.
HeaderRecipients takeHeaderRecipients(std::string_view message);

} // namespace upesi::maildrop
