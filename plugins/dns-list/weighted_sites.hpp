// Postfix postscreen's weighted DNS lists (postscreen_dnsbl_sites): entries such as
// "zen.example=127.0.0.[2..11]*3" name a zone, an optional filter on its answers and a weight;
// the weights of the entries that list a client add up to its score.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::plugins::dns_list {

struct OctetRange {
  unsigned low = 0;
  unsigned high = 0;
};

/// The answers an entry counts: for each of the four octets, the values allowed.
using AnswerFilter = std::array<std::vector<OctetRange>, 4>;

struct WeightedSite {
  std::string zone;
  std::optional<AnswerFilter> filter; ///< none: any answer that is not an error counts
  int weight = 1;
  std::string text; ///< as written, for logs
};

/// Upper bound on the entries of one list, so a config cannot make each client cost thousands
/// of lookups.
inline constexpr std::size_t MaxWeightedSites = 64;

/// Parses one entry; nullopt and `error` set if it is malformed.
std::optional<WeightedSite> parseWeightedSite(std::string_view entry, std::string& error);

/// True if the answer `address` (dotted IPv4) passes `filter`.
bool filterMatches(const AnswerFilter& filter, std::string_view address);

/// True if `site` counts for these answers: at least one passes its filter (weight applies
/// once, however many answers match).
bool siteMatches(const WeightedSite& site, const std::vector<std::string>& addresses);

} // namespace upesi::plugins::dns_list
