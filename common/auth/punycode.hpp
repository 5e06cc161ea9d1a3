// Punycode (RFC 3492) and the IDNA A-label form of a domain (RFC 5890 section 2.3.2.1): how the
// Public Suffix List's U-labels ("公司.cn") become the A-labels ("xn--55qx5d.cn") mail domains
// arrive as. Encoding only, and no IDNA2008 mapping or validity check beyond well-formed UTF-8:
// the callers hand it labels that are already lower-case (the list's rules, RFC 6532 domains).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace upesi::auth {

/// The Punycode encoding of `utf8` (without the "xn--" prefix); nullopt when `utf8` is not
/// well-formed UTF-8 or the encoding would overflow (RFC 3492 section 6.4).
std::optional<std::string> punycodeEncode(std::string_view utf8);

/// `domain` with each label that holds non-ASCII bytes replaced by "xn--" and its Punycode, and
/// ASCII letters lower-cased; nullopt when a label is not well-formed UTF-8 or its A-label would
/// exceed 63 bytes.
std::optional<std::string> toALabels(std::string_view domain);

} // namespace upesi::auth
