// The Public Suffix List (https://publicsuffix.org/list/), as Debian's publicsuffix package
// ships it (/usr/share/publicsuffix/public_suffix_list.dat), and the Organizational Domain of
// DMARC (RFC 7489 section 3.2) it defines.
//
// The list is UTF-8 text: one rule a line, read up to the first whitespace; "//" comments; the
// ICANN and PRIVATE sections between "===BEGIN ICANN DOMAINS===" / "===BEGIN PRIVATE DOMAINS==="
// markers; "*." wildcard rules and "!" exception rules. Rules are turned into A-labels at load
// (punycode.hpp) because mail domains arrive as A-labels. Pure: loading reads one file, lookups
// touch nothing but the sets.
#pragma once

#include "common/util/result.hpp"

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

namespace upesi::auth {

/// Where Debian's publicsuffix package puts the list.
inline constexpr std::string_view DebianPublicSuffixList =
    "/usr/share/publicsuffix/public_suffix_list.dat";

/// Bounds on what a list file may make us load.
constexpr std::size_t MaxPublicSuffixFile = 16 * 1024 * 1024;
constexpr std::size_t MaxPublicSuffixLine = 255;

struct PublicSuffixOptions {
  /// Take the PRIVATE section's rules too (as the Debian tools and OpenDMARC do).
  bool include_private = true;
};

class PublicSuffixList {
public:
  /// An empty list: only the default rule "*" applies.
  PublicSuffixList() = default;

  /// Reads and parses the file at `path`; an error names the file (and the line).
  static Result<PublicSuffixList> load(const std::string& path,
                                       const PublicSuffixOptions& options = {});
  /// Parses the text of a list; `name` is what errors call it.
  static Result<PublicSuffixList> parse(std::string_view text, std::string_view name,
                                        const PublicSuffixOptions& options = {});

  /// The public suffix of `domain` (A-labels, any case, an optional trailing dot): the longest
  /// matching rule, an exception rule winning over all others, "*" when none matches. nullopt
  /// for a domain that is empty or has an empty label (".com", "a..b").
  std::optional<std::string> publicSuffix(std::string_view domain) const;
  /// The public suffix and one label more: what the PSL project's tests call the registrable
  /// domain; nullopt when `domain` is itself a public suffix (or malformed, as above).
  std::optional<std::string> registrableDomain(std::string_view domain) const;
  /// RFC 7489 section 3.2: the registrable domain, or `domain` itself (lower-case, without a
  /// trailing dot) when that is a public suffix. Empty for a malformed domain.
  std::string organizationalDomain(std::string_view domain) const;
  /// True when a rule of the list (not the default "*") matches `domain` or a suffix of it: its
  /// top-level domain is one the list knows. False for a malformed domain.
  bool hasRuleFor(std::string_view domain) const;

  /// Rules loaded, of every kind.
  std::size_t size() const { return exact_.size() + wildcard_.size() + exception_.size(); }

private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const {
      return std::hash<std::string_view>{}(text);
    }
  };
  using RuleSet = std::unordered_set<std::string, Hash, std::equal_to<>>;

  // Without the "*." or "!" prefix, in A-labels, lower-case.
  RuleSet exact_;
  RuleSet wildcard_;
  RuleSet exception_;
  std::size_t max_labels_ = 0; // the most labels in a rule, its prefix included
};

/// `domain` lower-cased and without one trailing dot; what every lookup compares.
std::string normalizeDomain(std::string_view domain);

} // namespace upesi::auth
