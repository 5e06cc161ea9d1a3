// An SMTP reply: a code, an enhanced status code (RFC 3463; empty for none) and text lines,
// written as "250-first" ... "250 last", each line CRLF-terminated.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace upesi::smtp {

struct Reply {
  int code = 250;
  std::string enhanced; // "2.1.0"; ignored if the text already starts with an enhanced code
  std::vector<std::string> lines;

  bool isError() const { return code >= 400; }
  bool isTransient() const { return code >= 400 && code < 500; }
};

/// Appends the wire form of `reply` to `out`. CR, LF and NUL inside a line become spaces, so
/// nothing a plugin or a client put in a message can break the reply framing.
void appendReply(std::string& out, const Reply& reply);

/// True if `text` starts with an enhanced status code ("5.7.1 ...").
bool startsWithEnhancedCode(std::string_view text);

} // namespace upesi::smtp
