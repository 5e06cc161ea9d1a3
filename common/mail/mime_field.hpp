// A structured MIME header value (RFC 2045 section 5.1, RFC 2183): a token such as
// "multipart/mixed" or "attachment", then "; name=value" parameters, values plain or quoted,
// and RFC 2231 extended parameters (name*=charset'lang'%XX, continuations name*0, name*1*, ...).
// Lenient, as mail readers are: junk between parameters is skipped, never an error.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace upesi::mail {

struct MimeField {
  /// The leading token, lower-case, blanks and comments removed ("text/plain").
  std::string value;
  /// Parameters in order: names lower-case, values unquoted (extended ones still raw).
  std::vector<std::pair<std::string, std::string>> params;

  static MimeField parse(std::string_view text);

  /// The parameter `name` (lower-case), RFC 2231 forms joined and decoded to UTF-8 where the
  /// charset is one Utf8Converter converts; "" when absent.
  std::string param(std::string_view name) const;
};

} // namespace upesi::mail
