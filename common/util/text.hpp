// Small text helpers shared by the readers and the writers.
#pragma once

#include <string>
#include <string_view>

namespace upesi {

/// `s` without leading and trailing whitespace (space, tab, CR, LF, VT, FF).
std::string_view trimSpace(std::string_view s);

/// The current time as an RFC 5322 date in UTC: "Mon, 23 Nov 2026 09:25:28 +0000".
std::string rfc5322Now();

} // namespace upesi
