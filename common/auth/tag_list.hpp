// The tag=value lists of DKIM signatures and key records (RFC 6376 section 3.2), which DMARC
// records (RFC 7489 section 6.4) share: "v=DKIM1; k=rsa; p=MIGf...".
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace upesi::auth {

/// Bounds on what a published record or a header field may make us parse.
constexpr std::size_t MaxTagListLength = 64 * 1024;
constexpr std::size_t MaxTags = 64;

struct TagList {
  /// In the order written; names as written (they are case-sensitive), values with the
  /// whitespace around them removed and folding (CRLF before a space) kept as spaces.
  std::vector<std::pair<std::string, std::string>> tags;
  std::string error; // why the list is malformed; empty when it is not

  bool ok() const { return error.empty(); }
  /// The value of tag `name`, if present.
  std::optional<std::string_view> find(std::string_view name) const;
};

/// Parses `text`; a repeated tag, a name that is not ALPHA *(ALPHA / DIGIT / "_"), a value byte
/// outside %x21-3A / %x3C-7E or whitespace, or more than the bounds above is an error.
TagList parseTagList(std::string_view text);

/// `value` without any whitespace (space, tab, CR, LF): how b=, bh= and p= are read.
std::string withoutWhitespace(std::string_view value);

} // namespace upesi::auth
