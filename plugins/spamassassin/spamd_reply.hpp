// spamd's answer to HEADERS (SPAMC/SPAMD protocol, spamd/PROTOCOL in SpamAssassin): a status
// line, response headers (Spam:, Content-length:), an empty line, then the message's header as
// SpamAssassin would rewrite it. Parsed as Haraka's spamassassin plugin reads it: the verdict
// from "Spam: True ; 15.0 / 5.0", and the X-Spam-* fields (folded lines kept) to copy into the
// message. Pure functions of the bytes, for hostile input too.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace upesi::plugins::spamassassin {

struct SpamdReply {
  std::string line0;        ///< "SPAMD/1.1 0 EX_OK"
  int status = -1;          ///< 0 is EX_OK; -1: no status line could be read
  std::string message;      ///< the status line's text ("EX_OK", "Bad header line: ...")
  std::optional<bool> flag; ///< Spam: True/False (Yes/No), when the line was there
  std::string score;        ///< as spamd wrote it ("15.0"); empty without a Spam: line
  std::string required;     ///< the threshold spamd applied
  /// The X-Spam-* fields by their name after "X-Spam-" in order of first appearance, a folded
  /// value joined with CRLF as it was folded; a later field of the same name replaces the value.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string tests; ///< from X-Spam-Tests, else Status's tests=...

  const std::string* header(std::string_view name) const;
};

SpamdReply parseSpamdReply(std::string_view raw);

/// True once `raw` holds the whole answer its Content-length announces (spamd closes the
/// connection after it anyway; this spares waiting for that).
bool spamdReplyComplete(std::string_view raw);

} // namespace upesi::plugins::spamassassin
