// Small text helpers shared by the readers and the writers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace upesi {

/// `s` without leading and trailing whitespace (space, tab, CR, LF, VT, FF).
std::string_view trimSpace(std::string_view s);

/// The items of a list option such as "a, b c": split at any of `separators`, empty items
/// dropped. Haraka's list options accept commas and spaces alike.
std::vector<std::string> splitList(std::string_view text, std::string_view separators = ", ");

/// Edits (insert, delete, substitute, swap two neighbours) that turn `a` into `b`, ignoring
/// ASCII case: how close a typo is to what was meant.
std::size_t editDistance(std::string_view a, std::string_view b);

/// The current time as an RFC 5322 date in UTC: "Mon, 23 Nov 2026 09:25:28 +0000".
std::string rfc5322Now();
/// `seconds` since the epoch as an RFC 5322 date in UTC.
std::string rfc5322Date(std::int64_t seconds);

} // namespace upesi
