// Base64 (RFC 4648, standard alphabet, padded), as SMTP AUTH (RFC 4954) and MIME use it.
// Decoding is strict: a wrong character, bad padding, a wrong length or pad bits that are not
// zero (a non-canonical encoding, RFC 4648 section 3.5) is an error, since a lenient decoder
// lets garbage through as credentials.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace upesi {

std::string base64Encode(std::string_view bytes);
std::optional<std::string> base64Decode(std::string_view text);

} // namespace upesi
