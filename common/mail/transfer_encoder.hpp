// Content-Transfer-Encoding encoders (RFC 2045 section 6), for a body part rewritten whole (a
// banner added): the opposite of transfer_decoder.hpp. Output lines end in CRLF and are at most
// 76 characters long, as section 6.7 and 6.8 require.
#pragma once

#include <string>
#include <string_view>

namespace upesi::mail {

/// Base64 in lines of 76 characters, each ending in CRLF except the last.
void encodeBase64(std::string_view bytes, std::string& out);

/// Quoted-printable. A line break in `text` (CRLF or a bare LF) is a hard line break; '=',
/// control and 8-bit bytes, and blanks before a line break are escaped; longer lines get soft
/// breaks.
void encodeQuotedPrintable(std::string_view text, std::string& out);

} // namespace upesi::mail
