// The pure parts of the headers plugin: RFC 5322 dates, the user agent and mailing list
// signatures, and the lookalike folding and word match of the phishing check.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::plugins::headers {

/// Seconds since the epoch of an RFC 5322 date-time (obsolete forms included: two-digit
/// years, zone names, comments), or nullopt.
std::optional<std::int64_t> parseDate(std::string_view text);

/// A header's first value by name, "" when absent.
using HeaderLookup = std::function<std::string(std::string_view name)>;

/// Haraka's user agent results: "UA(<first 12 characters>)" for each user agent field present.
std::vector<std::string> userAgents(const HeaderLookup& header);

/// The mailing list managers the header names (ezmlm, mailman…), once per signature found.
std::vector<std::string> mailingListManagers(const HeaderLookup& header);

/// Lower-cased, with digits and signs that pass for letters (0→o, 1→i, $→s…) folded to them.
std::string normalizeLookalikes(std::string_view text);

/// True if `word` occurs in `text` between word boundaries (as a regex's \b, ASCII, any case).
bool containsWord(std::string_view text, std::string_view word);

/// True if `needle` occurs in `text`, ignoring ASCII case.
bool containsNoCase(std::string_view text, std::string_view needle);

} // namespace upesi::plugins::headers
